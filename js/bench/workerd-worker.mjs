// The worker js/bench/workerd.mjs runs in workerd: it times, inside the
// isolate, over the same tokens with the same checks:
//   tessera  tessera-edge's `verify` (the workerd build: WebCrypto for ES256
//            and RS256, WebAssembly for EdDSA)
//   wasm     the same with `signatures: 'wasm'` (every check in WebAssembly)
//   jose     jose's `jwtVerify` with a local key set (WebCrypto)
//   subtle   `crypto.subtle.verify` alone, key imported once (the floor)
// POST a JSON body { lib, issuer, audience, alg, jwks, tokens, repeat }; the
// answer is { us } (µs per verification) or { error }. With `first: true`, in
// a fresh isolate: { ms } for setting the library up and verifying its first
// token (tessera-edge: instantiating the WebAssembly, `createTessera`, the
// discovery document and key set served from memory; jose: `createLocalJWKSet`).
import { base64url, createLocalJWKSet, importJWK, jwtVerify } from 'jose';
import { createTessera } from 'tessera-edge';

const libraries = new Map();
const SUBTLE = { ES256: { name: 'ECDSA', hash: 'SHA-256' }, RS256: 'RSASSA-PKCS1-v1_5', EdDSA: 'Ed25519' };

async function library(lib, { issuer, audience, alg, jwks }) {
  const key = `${lib} ${issuer}`;
  if (!libraries.has(key)) {
    if (lib === 'jose') {
      const keys = createLocalJWKSet(jwks);
      const options = { issuer, audience, algorithms: [alg], clockTolerance: 5 };
      libraries.set(key, async (token) => {
        const { payload } = await jwtVerify(token, keys, options);
        if (!payload.sub) throw new Error('jose: no sub');
      });
    } else if (lib === 'subtle') {
      const cryptoKey = await importJWK(jwks.keys[0], alg);
      const params = SUBTLE[alg];
      const encoder = new TextEncoder();
      libraries.set(key, async (token) => {
        const dot = token.lastIndexOf('.');
        const signature = base64url.decode(token.slice(dot + 1));
        if (!(await crypto.subtle.verify(params, cryptoKey, signature, encoder.encode(token.slice(0, dot))))) throw new Error('subtle: bad signature');
      });
    } else {
      const tessera = await createTessera({ issuer, verification: { audience, algorithms: [alg] } }, { signatures: lib === 'wasm' ? 'wasm' : 'native' });
      libraries.set(key, async (token) => {
        const r = await tessera.verify(token);
        if (!r.valid) throw new Error(`tessera-edge refused a good token: ${r.reason}: ${r.message}`);
      });
    }
  }
  return libraries.get(key);
}

/** Set-up and first verification in a fresh isolate, in ms (workerd's clock: whole ms). */
async function first({ lib, issuer, audience, alg, jwks, tokens: [token] }) {
  const t0 = performance.now();
  if (lib === 'jose') {
    await jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience, algorithms: [alg] });
  } else {
    const documents = new Map([[`${issuer}/.well-known/openid-configuration`, { issuer, jwks_uri: `${issuer}/jwks` }], [`${issuer}/jwks`, jwks]]);
    const fetch = async (url) => Response.json(documents.get(String(url)), { headers: { 'cache-control': 'max-age=600' } });
    const tessera = await createTessera({ issuer, verification: { audience, algorithms: [alg] } }, { fetch });
    const r = await tessera.verify(token);
    if (!r.valid) throw new Error(`tessera-edge refused a good token: ${r.reason}: ${r.message}`);
  }
  return performance.now() - t0;
}

export default {
  async fetch(request) {
    try {
      const job = await request.json();
      if (job.first) return Response.json({ ms: await first(job) });
      const verify = await library(job.lib, job);
      const t0 = performance.now();
      for (let r = 0; r < job.repeat; r += 1) {
        for (const token of job.tokens) await verify(token);
      }
      const us = ((performance.now() - t0) * 1000) / (job.repeat * job.tokens.length);
      return Response.json({ us });
    } catch (error) {
      return Response.json({ error: String(error?.stack ?? error) }, { status: 500 });
    }
  },
};
