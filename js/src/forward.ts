// For origins behind Tessera: checking the signed identity headers
// (`x-tessera-signature`, version 2: see the core's `forward` module and
// docs/security.md for the format, which any language can check).
import { isIdentityHeader } from './core.js';

/** What the request arrived as, and how to check its signature. */
export interface ForwardCheck {
  /** The shared `forwardSigningSecret` (at least 32 bytes). */
  secret: string | Uint8Array;
  /** The request method. */
  method: string;
  /** The app's public origin, as Tessera is configured (`appOrigin`). */
  origin: string;
  /** The request target received: path and query, as sent (`req.originalUrl` in Express). */
  target: string;
  /** The most seconds between signing and checking. Default 60. */
  maxAge?: number;
  /** The clock, unix seconds. Default now. */
  now?: number;
}

/** The verified identity headers, or why they were refused. */
export type ForwardedIdentity =
  | { valid: true; user: string; session: string | null; org: string | null; claims: Record<string, unknown> }
  | { valid: false; reason: 'claim-invalid' | 'token-expired'; message: string };

const encoder = new TextEncoder();

/**
 * Checks the identity headers Tessera signed for this very request (method,
 * app origin, target, access token and every `x-tessera-*` header), so an
 * origin can trust `x-tessera-user` without re-verifying the token, and
 * captured headers verify for no other request.
 *
 * ```ts
 * const r = await verifyForwardedIdentity(new Headers(req.headers), {
 *   secret: process.env.TESSERA_FORWARD_SECRET!, method: req.method,
 *   origin: 'https://app.example.com', target: req.originalUrl,
 * });
 * if (!r.valid) return res.status(401).end(r.message);
 * ```
 */
export async function verifyForwardedIdentity(headers: Headers, check: ForwardCheck): Promise<ForwardedIdentity> {
  const refuse = (reason: 'claim-invalid' | 'token-expired', message: string): ForwardedIdentity => ({ valid: false, reason, message });
  const signature = headers.get('x-tessera-signature');
  if (signature === null) return refuse('claim-invalid', 'the request has no x-tessera-signature');
  const m = /^t=(\d{1,15}),v2=([0-9a-f]{64})$/.exec(signature);
  if (!m) return refuse('claim-invalid', 'x-tessera-signature is not of the form t=<seconds>,v2=<hex>');
  const t = Number(m[1]);
  const now = check.now ?? Math.floor(Date.now() / 1000);
  const maxAge = check.maxAge ?? 60;
  if (t > now + 5 || now - t > maxAge) {
    return refuse('token-expired', `x-tessera-signature was made at ${t}, now is ${now} (max age ${maxAge} s)`);
  }
  const token = (headers.get('authorization') ?? '').replace(/^Bearer /, '');
  const tokenHash = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token))));
  const signed: [string, string][] = [];
  headers.forEach((value, name) => {
    if (isIdentityHeader(name) && name !== 'x-tessera-signature') signed.push([name, value]);
  });
  signed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = `tessera-forward-v2\nt:${t}\nmethod:${check.method.toUpperCase()}\norigin:${check.origin}\ntarget:${check.target}\ntoken:${tokenHash}\n`
    + signed.map(([n, v]) => `${n}:${v}\n`).join('');
  const secret = typeof check.secret === 'string' ? encoder.encode(check.secret) : new Uint8Array(check.secret);
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const macHex = m[2] ?? '';
  const mac = Uint8Array.from({ length: macHex.length / 2 }, (_, i) => parseInt(macHex.slice(2 * i, 2 * i + 2), 16));
  if (!(await crypto.subtle.verify('HMAC', key, mac, encoder.encode(text)))) {
    return refuse('claim-invalid', 'x-tessera-signature does not match this request\'s identity headers, method, target, app or token');
  }
  let claims: Record<string, unknown> = {};
  try {
    claims = JSON.parse(new TextDecoder().decode(base64url(headers.get('x-tessera-claims') ?? ''))) as Record<string, unknown>;
  } catch {
    return refuse('claim-invalid', 'x-tessera-claims is not base64url JSON');
  }
  return {
    valid: true,
    user: decodeURIComponent(headers.get('x-tessera-user') ?? ''),
    session: headers.has('x-tessera-session') ? decodeURIComponent(headers.get('x-tessera-session')!) : null,
    org: headers.has('x-tessera-org') ? decodeURIComponent(headers.get('x-tessera-org')!) : null,
    claims,
  };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function base64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}
