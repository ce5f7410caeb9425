// Which signature checks should the worker hand to WebCrypto? Measures, in one
// run, the worker in workerd (miniflare) checking signatures of bearer tokens
// it has never seen, with the pure-Rust check compiled to Wasm and with
// WebCrypto, and `jose` in Node for scale. The tokens carry a foreign audience,
// so each request costs a full signature check and ends in Tessera's own 401
// (no origin round trip); the cost of a request that fails before any
// signature check (a malformed token) is measured alongside and subtracted.
//
//   node benches/worker.bench.mjs [requests-per-cell]
import http from 'node:http';
import { Miniflare } from 'miniflare';
import { SignJWT, generateKeyPair, exportJWK, jwtVerify, createLocalJWKSet } from 'jose';
import { WORKER_SCRIPT, startOrigin } from '../tests/e2e/stack.mjs';

const N = Number(process.argv[2] ?? 200);
const ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'];

// A static issuer: discovery and a JWKS with one key per algorithm.
const keys = {};
const jwks = { keys: [] };
for (const alg of ALGS) {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  keys[alg] = privateKey;
  jwks.keys.push({ ...(await exportJWK(publicKey)), kid: alg, alg, use: 'sig' });
}
const issuerServer = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'max-age=3600');
  if (req.url === '/.well-known/openid-configuration') {
    res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` }));
  } else res.end(JSON.stringify(jwks));
});
await new Promise((r) => issuerServer.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${issuerServer.address().port}`;
const origin = await startOrigin();

const token = (alg, i, audience = 'other-api') => new SignJWT({ sid: `s${i}` })
  .setProtectedHeader({ alg, kid: alg }).setIssuer(issuer).setAudience(audience).setSubject(`user-${i}`)
  .setIssuedAt().setExpirationTime('10m').sign(keys[alg]);

async function worker(hostSignatures) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER_SCRIPT,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-20',
    bindings: {
      TESSERA_CONFIG: JSON.stringify({
        issuer, clientId: 'bench', appOrigin: 'https://app.example',
        verification: { audience: 'api', algorithms: ALGS },
        routes: [{ pattern: '/api/**', access: 'api' }],
      }),
      ORIGIN_URL: origin.url,
      TESSERA_LOG: 'off',
      TESSERA_HOST_SIGNATURES: hostSignatures,
    },
    cache: true,
  });
  return mf;
}

async function time(fn, n) {
  const samples = [];
  for (let i = 0; i < n; i += 1) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(n / 2)];
}

/** One request; the signature must have been checked and accepted (the 401 is the audience). */
const call = async (mf, tok, expect = 'audience-invalid') => {
  const res = await mf.dispatchFetch('http://app.example/api/x', { headers: { authorization: `Bearer ${tok}` } });
  await res.arrayBuffer();
  if (res.headers.get('x-tessera-reason') !== expect) throw new Error(`${res.status} ${res.headers.get('x-tessera-reason')}`);
};

const rust = await worker('none');
const webcrypto = await worker('ES256,RS256,PS256');
const jose = createLocalJWKSet(jwks);
try {
  const rows = [];
  const malformed = 'a.b.c';
  await call(rust, malformed, 'token-malformed');
  const base = await time(() => call(rust, malformed, 'token-malformed'), N);
  for (const alg of ALGS) {
    const fresh = await Promise.all(Array.from({ length: 3 * N + 2 }, (_, i) => token(alg, i)));
    await call(rust, fresh[3 * N]); // warm: discovery, keys, first use
    await call(webcrypto, fresh[3 * N + 1]);
    const r = await time((i) => call(rust, fresh[i]), N);
    const w = await time((i) => call(webcrypto, fresh[N + i]), N);
    const valid = await token(alg, 0, 'api');
    const j = await time(() => jwtVerify(valid, jose, { issuer, audience: 'api' }), N);
    rows.push({ alg, rust: r, webcrypto: w, jose: j });
  }
  const ms = (x) => `${x.toFixed(3)} ms`;
  console.log(`\nmedian request time, ${N} requests per cell, the worker in workerd via miniflare; a request that fails before any signature check takes ${ms(base)}\n`);
  console.log('| alg | new token, Rust in Wasm | new token, WebCrypto | Rust − WebCrypto | jose jwtVerify in Node (for scale) |');
  console.log('|---|---|---|---|---|');
  for (const { alg, rust: r, webcrypto: w, jose: j } of rows) {
    const webcryptoCell = alg === 'EdDSA' ? `${ms(w)} (EdDSA stays in Rust)` : ms(w);
    console.log(`| ${alg} | ${ms(r)} | ${webcryptoCell} | ${ms(r - w)} | ${ms(j)} |`);
  }
} finally {
  await rust.dispose();
  await webcrypto.dispose();
  await origin.close();
  issuerServer.close();
}
