// tessera-edge/express: middleware for Express and any `(req, res, next)`
// Node server (Connect, plain node:http). Hands the engine the raw request
// target Express routes on and the headers (the body is read only for
// Tessera's back-channel logout endpoint, which answers itself, so body
// parsers after it still work), and Tessera's answers back to the Node
// response.
//
// What Express routes, and so what the engine must decide on: the raw
// `req.url` as `parseurl` reads it (an origin-form target as it is, an
// absolute-form one through Node's legacy `url.parse`), never resolving dot
// segments or merging slashes, matching case-insensitively with an optional
// trailing slash, HEAD by the GET handlers. The engine gets `req.originalUrl`
// read the same way and refuses (400 `path-invalid`) every target whose path
// it would read differently; its protective rules match in any case and with
// or without a trailing slash. When a middleware before Tessera rewrote
// `req.url` (or Tessera sits in a mounted sub-app), a request forwarded
// without an identity must be public under both spellings. The `Host` header
// is never used: a `Host: a?` once made every path `/` for the engine
// (docs/security.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as legacyParse } from 'node:url';
import { Tessera, type TesseraSource } from '../core.js';
import type { AuthResult } from '../types.js';
import { rewriteNodeHeaders } from './node-headers.js';

/** The request as the middleware leaves it: `req.auth` holds the result. */
export interface TesseraIncomingMessage extends IncomingMessage {
  auth?: AuthResult;
  /** Express: the URL before routers trimmed their mount path. */
  originalUrl?: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by tessera-edge's middleware. */
      auth?: AuthResult;
    }
  }
}

/**
 * Express middleware that authenticates each request by the `routes` of your
 * configuration. Tessera's own answers (sign-in redirects, 401s, its
 * `/__tessera/*` endpoints) are sent; a forwarded request goes on with the
 * result in `req.auth` (`identity`, `status`), its headers rewritten as an
 * origin would receive them (`authorization`, `x-tessera-user`, … replacing
 * any a client sent; Tessera's cookies removed), and refreshed cookies set on
 * the response.
 *
 * ```ts
 * const app = express();
 * app.use(tesseraMiddleware(createTessera(config)));
 * app.get('/api/me', (req, res) => res.json({ user: req.auth?.identity?.sub }));
 * ```
 */
export function tesseraMiddleware(tessera: TesseraSource): (req: TesseraIncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    authenticate(tessera, req, res).then((forwarded) => { if (forwarded) next(); }, next);
  };
}

/**
 * Methods a Fetch API Request cannot carry that reach a Node server (Node's
 * parser refuses TRACK itself and hands CONNECT to its own event): such a
 * request cannot be authenticated, so it is answered 405 here, never passed on.
 */
const UNREPRESENTABLE = new Set(['TRACE']);
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** Answers or rewrites the request; true when it goes on to the app. */
async function authenticate(tessera: TesseraSource, req: TesseraIncomingMessage, res: ServerResponse): Promise<boolean> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (UNREPRESENTABLE.has(method)) {
    res.writeHead(405, { allow: ALLOW, 'content-type': 'text/plain; charset=utf-8' });
    res.end(`tessera: ${method} requests are refused: they cannot be authenticated\n`);
    return false;
  }
  const t = await tessera;
  const request = toRequest(req, method);
  const target = routedTarget(req.originalUrl ?? req.url ?? '');
  const result = await t.authenticateRequest(request, { target, body: (limit) => nodeBody(req, limit) });
  if (result.response) {
    await send(res, result.response);
    return false;
  }
  const routed = routedTarget(req.url ?? '');
  // Express routes `routed`: a spelling the engine refuses never passes;
  // without an identity it must be public, and an identity was checked
  // against the requirements of `target`'s rule only.
  const access = routed === target ? 'same' : t.routeAccess(method, routed);
  const unchecked = access === 'invalid' || (access !== 'same' && access !== 'public'
    && (!result.identity || t.routeRequirements(method, routed) !== -1
      && t.routeRequirements(method, routed) !== t.routeRequirements(method, target)));
  if (unchecked) {
    res.writeHead(400, { 'content-type': 'application/json', 'x-tessera-status': 'denied', 'x-tessera-reason': 'path-invalid' });
    res.end(JSON.stringify({
      error: 'path-invalid',
      message: `Express routes ${routed}, which is not public${result.identity ? ' and has requirements' : ''}, while Tessera saw ${target}: put tesseraMiddleware before middleware that rewrites req.url, and at the app's root`,
    }));
    return false;
  }
  req.auth = result;
  rewriteNodeHeaders(req, t.forwardHeaders(request, result));
  if (!result.forwardBody) dropBody(req);
  const out = new Headers();
  Tessera.addHeaders(out, result);
  setHeaders(res, out);
  const cacheControl = out.get('cache-control');
  if (cacheControl !== null) keepHeader(res, 'cache-control', cacheControl);
  return true;
}

/**
 * Keeps `name: value` on the response whatever the handler sets later (the
 * `cache-control: no-store` of a response that sets session cookies): it is
 * set again as the head is written.
 */
function keepHeader(res: ServerResponse, name: string, value: string): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    this.setHeader(name, value);
    for (const arg of args) {
      if (arg && typeof arg === 'object' && !Array.isArray(arg)) {
        const headers = arg as Record<string, unknown>;
        for (const key of Object.keys(headers)) if (key.toLowerCase() === name) headers[key] = value;
      }
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/**
 * A placeholder authority: the engine decides on the raw target alone, and
 * the Request built here only carries the method and headers.
 */
const PLACEHOLDER = 'http://tessera.invalid/';

/** The request's method and headers as a Fetch API Request (no body, no URL of its own). */
function toRequest(req: TesseraIncomingMessage, method: string): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue; // HTTP/2 pseudo-headers
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return new Request(PLACEHOLDER, { method, headers });
}

/**
 * The target as Express routes it: `parseurl` takes an origin-form target as
 * it is (the engine refuses the characters that make it fall back to
 * `url.parse`), and reads any other through Node's legacy `url.parse`, whose
 * path is what the router matches (`javascript://admin/x` is `//admin/x`).
 */
function routedTarget(raw: string): string {
  if (raw.startsWith('/')) return raw;
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- what Express routes with
  const parsed = legacyParse(raw);
  return `${parsed.pathname ?? ''}${parsed.search ?? ''}`;
}

/**
 * The body of a request Tessera answers itself (the back-channel logout
 * and revoke endpoints), at most `limit` bytes and one more: from the stream,
 * or, when a body parser before Tessera already read it, from what the
 * parser left in `req.body` (an object is encoded again as the request's
 * content type says: JSON, or a form).
 */
async function nodeBody(req: TesseraIncomingMessage, limit: number): Promise<Uint8Array> {
  const parsed: unknown = (req as { body?: unknown }).body;
  if (parsed !== undefined && req.readableEnded) {
    if (typeof parsed === 'string') return new TextEncoder().encode(parsed);
    if (parsed instanceof Uint8Array) return parsed;
    if (parsed !== null && typeof parsed === 'object') {
      if (/json/i.test(req.headers['content-type'] ?? '')) return new TextEncoder().encode(JSON.stringify(parsed));
      const form = new URLSearchParams();
      for (const [name, value] of Object.entries(parsed)) form.append(name, String(value));
      return new TextEncoder().encode(form.toString());
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(bytes);
    size += bytes.length;
    if (size > limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit + 1);
}

/**
 * A CORS preflight goes on without its body: body parsers see no body (they
 * go by these headers) and the stream is drained.
 */
function dropBody(req: TesseraIncomingMessage): void {
  delete req.headers['content-length'];
  delete req.headers['content-type'];
  delete req.headers['transfer-encoding'];
  req.resume();
}

function setHeaders(res: ServerResponse, headers: Headers): void {
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  for (const cookie of headers.getSetCookie()) res.appendHeader('set-cookie', cookie);
}

/** Sends one of Tessera's answers (small bodies: redirects, JSON refusals). */
async function send(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  setHeaders(res, response.headers);
  res.end(Buffer.from(await response.arrayBuffer()));
}
