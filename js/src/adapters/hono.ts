// tessera-edge/hono: Hono middleware. Runs wherever Hono does (Workers, Node
// with @hono/node-server, Deno, Bun).
//
// What Hono routes, and so what the engine must decide on: the path of
// `c.req.url` cut out as Hono's default `getPath` does (from the first `/`
// after the scheme to the first `?` or `#`), decoded once, never resolved.
// @hono/node-server builds that URL from the raw target, after refusing a
// `Host` that is not a plain host name and resolving dot segments with the
// WHATWG parser; Workers, Deno and Bun hand over WHATWG URLs. The engine gets
// the same cut and refuses what it would read differently. An app with its
// own `getPath` option must pass what that returns (docs/security.md).
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { TesseraSource } from '../core.js';
import type { AuthResult } from '../types.js';
import { rewriteNodeHeaders } from './node-headers.js';

/** The context variables the middleware sets: `c.get('tessera')`. */
export type TesseraVariables = { tessera: AuthResult };

/**
 * Hono middleware that authenticates each request by the `routes` of your
 * configuration: Tessera's own answers (sign-in redirects, 401s, its
 * `/__tessera/*` endpoints) are returned as they are; a forwarded request goes
 * on with the result in `c.get('tessera')` (`identity`, `status`) and its
 * headers as an origin would receive them (`c.req.raw`: `authorization`,
 * `x-tessera-user`, … replacing any a client sent; Tessera's cookies removed),
 * and refreshed cookies are added to whatever response your handlers return.
 *
 * ```ts
 * const app = new Hono<{ Variables: TesseraVariables }>();
 * app.use(tesseraMiddleware(createTessera(config)));
 * app.get('/api/me', (c) => c.json({ user: c.get('tessera').identity?.sub }));
 * ```
 */
export function tesseraMiddleware(tessera: TesseraSource): MiddlewareHandler<{ Variables: TesseraVariables }> {
  return async (c, next) => {
    const t = await tessera;
    const result = await t.authenticateRequest(c.req.raw, { target: routedTarget(c.req.url) });
    if (result.response) return result.response;
    c.set('tessera', result);
    const forwarded = t.forwardRequest(c.req.raw, result);
    // @hono/node-server also hands handlers the Node request (`c.env.incoming`).
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (incoming?.headers) rewriteNodeHeaders(incoming, forwarded.headers);
    c.req.raw = forwarded;
    await next();
    // `c.header` after the handler copies a response whose headers are immutable.
    result.headers.forEach((value, name) => {
      if (name !== 'set-cookie') c.header(name, value);
    });
    for (const cookie of result.headers.getSetCookie()) c.header('set-cookie', cookie, { append: true });
  };
}

/** The origin form of `url` as Hono's default `getPath` cuts it: from the first `/` after the scheme. */
function routedTarget(url: string): string {
  const start = url.indexOf('/', url.indexOf(':') + 4);
  return start === -1 ? '/' : url.slice(start);
}
