// Shared by the Express and Hono adapters: making every view of a Node
// request's headers the forwarded set.
import type { IncomingMessage } from 'node:http';

/**
 * Makes every view of the request's headers the forwarded set:
 * `req.headers`, `req.rawHeaders` and `req.headersDistinct` (Node computes
 * the last lazily from `rawHeaders`; it is set too in case something read it
 * already), so no handler finds a spoofed `x-tessera-*` or an unverified
 * `authorization` in any of them.
 */
export function rewriteNodeHeaders(req: IncomingMessage, headers: Headers): void {
  for (const name of Object.keys(req.headers)) {
    if (!headers.has(name)) delete req.headers[name];
  }
  const raw: string[] = [];
  const distinct: Record<string, string[]> = {};
  headers.forEach((value, name) => {
    req.headers[name] = value;
    raw.push(name, value);
    distinct[name] = [value];
  });
  req.rawHeaders = raw;
  req.headersDistinct = distinct;
}
