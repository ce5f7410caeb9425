// tessera-edge/express: middleware for Express and any `(req, res, next)`
// Node server (Connect, plain node:http). Converts the request's line and
// headers to a Fetch API Request (the body is not read, so body parsers after
// it still work) and Tessera's answers back to the Node response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Tessera, type TesseraSource } from '../core.js';
import type { AuthResult } from '../types.js';

/** The request as the middleware leaves it: `req.auth` holds the result. */
export interface TesseraIncomingMessage extends IncomingMessage {
  auth?: AuthResult;
  /** Express: the URL before routers trimmed their mount path. */
  originalUrl?: string;
  /** Express: `http` or `https`, honouring its `trust proxy` setting. */
  protocol?: string;
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
  const request = toRequest(req);
  const result = await t.authenticateRequest(request);
  if (result.response) {
    await send(res, result.response);
    return false;
  }
  req.auth = result;
  const headers = t.forwardHeaders(request, result);
  for (const name of Object.keys(req.headers)) {
    if (!headers.has(name)) delete req.headers[name];
  }
  headers.forEach((value, name) => { req.headers[name] = value; });
  const out = new Headers();
  Tessera.addHeaders(out, result);
  setHeaders(res, out);
  return true;
}

/** The request line and headers as a Fetch API Request (no body). */
function toRequest(req: TesseraIncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue; // HTTP/2 pseudo-headers
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const proto = req.protocol ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
  let target = req.originalUrl ?? req.url ?? '/';
  if (!target.startsWith('/')) {
    // An absolute-form request target: only its path and query count.
    try {
      const u = new URL(target);
      target = u.pathname + u.search;
    } catch {
      target = '/';
    }
  }
  // Concatenated, not resolved: `//host/path` stays a path, as Express routes it.
  try {
    return new Request(`${proto}://${req.headers.host ?? 'localhost'}${target}`, { method: req.method ?? 'GET', headers });
  } catch {
    return new Request(`${proto}://localhost${target}`, { method: req.method ?? 'GET', headers });
  }
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
