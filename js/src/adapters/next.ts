// tessera-edge/next: Next.js middleware (`middleware.ts`, `proxy.ts` from Next
// 16) and route handlers, over `next/server`'s NextRequest and NextResponse.
//
// What Next routes, and so what the engine must decide on: the page path,
// `request.nextUrl.pathname` (a WHATWG-parsed URL with the basePath and locale
// removed and `/_next/data/<build>/admin.json` read as `/admin`), so a data
// request is decided as its page. The app's headers are exactly the set handed
// to `NextResponse.next({ request: { headers } })`: Next removes every other
// one, a client's unverified `authorization` included (docs/security.md).
import { NextResponse, type NextRequest } from 'next/server.js';
import { Tessera, type TesseraSource } from '../core.js';
import type { AuthResult } from '../types.js';

/**
 * Next.js middleware that authenticates every request it matches, following
 * the `routes` of your configuration: a page without a session is redirected
 * to sign-in, an API call gets a 401 with the reason, Tessera's endpoints
 * (`/__tessera/*`) are answered, and everything else goes on to your app with
 * the identity headers (`authorization`, `x-tessera-user`, …) replacing any a
 * client sent, Tessera's cookies removed, and refreshed cookies set on the
 * response.
 *
 * ```ts
 * // middleware.ts (proxy.ts in Next 16)
 * import { createTessera } from 'tessera-edge';
 * import { tesseraMiddleware } from 'tessera-edge/next';
 * export default tesseraMiddleware(createTessera({ issuer: 'https://auth.example.com', … }));
 * export const config = { matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'] };
 * ```
 */
export function tesseraMiddleware(tessera: TesseraSource): (request: NextRequest) => Promise<Response> {
  return async (request) => {
    const t = await tessera;
    const result = await t.authenticateRequest(request, { target: routedTarget(request) });
    if (result.response) return result.response;
    const response = NextResponse.next({ request: { headers: t.forwardHeaders(request, result) } });
    Tessera.addHeaders(response.headers, result);
    return response;
  };
}

/**
 * Wraps a route handler: the handler runs only when Tessera forwards the
 * request, and gets the result (`auth.identity`); otherwise Tessera's answer
 * (401, redirect, 503) is returned. Behind `tesseraMiddleware`, an `api`
 * route sees the forwarded bearer token, which is verified again from the
 * memo (microseconds).
 *
 * ```ts
 * // app/api/me/route.ts
 * export const GET = withAuth(tessera, (request, auth) => Response.json({ user: auth.identity?.sub }));
 * ```
 */
export function withAuth<Context = unknown>(
  tessera: TesseraSource,
  handler: (request: NextRequest, auth: AuthResult, context: Context) => Response | Promise<Response>,
): (request: NextRequest, context: Context) => Promise<Response> {
  return async (request, context) => {
    const result = await (await tessera).authenticateRequest(request, { target: routedTarget(request) });
    if (result.response) return result.response;
    return Tessera.withHeaders(await handler(request, result, context), result);
  };
}

/** The page path Next routes, with the query. */
function routedTarget(request: NextRequest): string {
  return request.nextUrl.pathname + request.nextUrl.search;
}
