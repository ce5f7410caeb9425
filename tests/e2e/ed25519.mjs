// Ed25519 signatures that a lenient check accepts and the strict rules refuse,
// for tests that a native (WebCrypto) Ed25519 check is never more lenient than
// the core's: RFC 8032's cofactorless equation `[s]B = R + [k]A` holds for
// both, so only the rules the core applies before any check refuse them.
import { createHash } from 'node:crypto';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le = (bytes) => BigInt(`0x${Buffer.from(bytes).reverse().toString('hex') || '0'}`);
const toLe = (n) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();

/**
 * For the signature `sig` of `input` by the Ed25519 private JWK `jwk`:
 * `s + ℓ` in place of `s` (not canonical), and `R` = the identity (a point of
 * small order) with `s = k·a`, `k = H(R ‖ A ‖ input)`.
 */
export function lenientOnly(jwk, input, sig) {
  const h = createHash('sha512').update(Buffer.from(jwk.d, 'base64url')).digest();
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  const a = le(h.subarray(0, 32));
  const identity = Buffer.alloc(32);
  identity[0] = 1;
  const k = le(createHash('sha512').update(identity).update(Buffer.from(jwk.x, 'base64url')).update(input).digest()) % L;
  return {
    's + l (not canonical)': Buffer.concat([sig.subarray(0, 32), toLe(le(sig.subarray(32)) + L)]),
    'R of small order (the identity), s = k·a': Buffer.concat([identity, toLe((k * a) % L)]),
  };
}

/** `token` with its signature replaced by each of `lenientOnly`'s. */
export function lenientOnlyTokens(jwk, token) {
  const [h, p, s] = token.split('.');
  const bad = lenientOnly(jwk, `${h}.${p}`, Buffer.from(s, 'base64url'));
  return Object.fromEntries(Object.entries(bad).map(([name, sig]) => [name, `${h}.${p}.${sig.toString('base64url')}`]));
}
