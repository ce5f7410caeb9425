// The Rust worker in workerd (miniflare), in one run:
//
// 1. Which signature checks should the worker hand to WebCrypto? Bearer tokens
//    it has never seen, checked with the pure-Rust code compiled to Wasm and
//    with WebCrypto, and `jose` in Node for scale. The tokens carry a foreign
//    audience, so each request costs a full signature check and ends in
//    Tessera's own 401 (no origin round trip); a request that fails before any
//    signature check (a malformed token) is measured alongside.
// 2. What does the worker add to a request? A valid token (warm memo) through
//    Tessera to the origin, against a pass-through worker (a JS worker that
//    only fetches the origin): p50 and p99 of each, and the difference.
// 3. Start-up: the first request in a fresh workerd against the pass-through
//    worker's first request: a malformed token (module and configuration), a
//    valid token with the key set in the Cache API (instantiation + first
//    verification, no network), a valid token with nothing cached.
//
//   node benches/worker.bench.mjs [requests-per-cell]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
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

async function worker(hostSignatures, cachePersist) {
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
    ...(cachePersist ? { cachePersist } : {}),
  });
  return mf;
}

/** Request times in ms, sorted, `n` sequential calls. */
async function samples(fn, n) {
  const out = [];
  for (let i = 0; i < n; i += 1) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function time(fn, n) {
  return quantile(await samples(fn, n), 0.5);
}

/** A worker that only passes requests to the origin (the baseline). */
function passThrough() {
  return new Miniflare({
    modules: true,
    script: `export default { fetch(request, env) {
      const url = new URL(request.url);
      return fetch(env.ORIGIN_URL + url.pathname + url.search, request);
    } };`,
    compatibilityDate: '2026-04-20',
    bindings: { ORIGIN_URL: origin.url },
  });
}

/** The first request's time in a fresh workerd, and the worker's own answer. */
async function firstRequest(mf, headers) {
  const t = performance.now();
  const res = await mf.dispatchFetch('http://app.example/api/x', { headers });
  await res.arrayBuffer();
  return { ms: performance.now() - t, status: res.status };
}

/** One request; the signature must have been checked and accepted (the 401 is the audience). */
const call = async (mf, tok, expect = 'audience-invalid') => {
  const res = await mf.dispatchFetch('http://app.example/api/x', { headers: { authorization: `Bearer ${tok}` } });
  await res.arrayBuffer();
  if (res.headers.get('x-tessera-reason') !== expect) throw new Error(`${res.status} ${res.headers.get('x-tessera-reason')}`);
};

const rust = await worker('none');
const webcrypto = await worker('ES256,EdDSA,RS256,PS256');
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
    console.log(`| ${alg} | ${ms(r)} | ${ms(w)} | ${ms(r - w)} | ${ms(j)} |`);
  }

  // 2. Overhead over a pass-through worker, warm memo, interleaved in rounds so
  // drift on a noisy machine hits both alike.
  const through = passThrough();
  try {
    const valid = await token('ES256', 7, 'api');
    const headers = { authorization: `Bearer ${valid}` };
    const get = async (mf) => {
      const res = await mf.dispatchFetch('http://app.example/api/x', { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    };
    for (let i = 0; i < 50; i += 1) { await get(webcrypto); await get(through); }
    const ours = [];
    const theirs = [];
    for (let round = 0; round < 10; round += 1) {
      ours.push(...(await samples(() => get(webcrypto), Math.ceil(N / 2))));
      theirs.push(...(await samples(() => get(through), Math.ceil(N / 2))));
    }
    ours.sort((a, b) => a - b);
    theirs.sort((a, b) => a - b);
    console.log(`\nrequest through the worker to the origin (valid ES256 token, warm memo) vs a pass-through worker, ${ours.length} requests each\n`);
    console.log('| | p50 | p99 |');
    console.log('|---|---|---|');
    console.log(`| pass-through worker | ${ms(quantile(theirs, 0.5))} | ${ms(quantile(theirs, 0.99))} |`);
    console.log(`| Tessera worker | ${ms(quantile(ours, 0.5))} | ${ms(quantile(ours, 0.99))} |`);
    console.log(`| added by Tessera | ${ms(quantile(ours, 0.5) - quantile(theirs, 0.5))} | ${ms(quantile(ours, 0.99) - quantile(theirs, 0.99))} |`);
  } finally {
    await through.dispose();
  }

  // 3. Start-up, a fresh workerd each time (median of 5). Every first request
  // pays what V8 compiles on first use, so the pass-through worker's first
  // request is the baseline. Tessera is measured answering a malformed token
  // (loading the module and the configuration, no keys needed), then a valid
  // token in a workerd whose Cache API already holds the key-set snapshot
  // (as a new isolate finds it after another isolate fetched the keys: no
  // network), then a valid token with nothing cached (discovery and key set
  // fetched from 127.0.0.1).
  const persist = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-cache-'));
  const firsts = { through: [], malformed: [], snapshot: [], network: [] };
  try {
    const seed = await worker('ES256,EdDSA,RS256,PS256', persist);
    await firstRequest(seed, { authorization: `Bearer ${await token('ES256', 99, 'api')}` });
    await new Promise((r) => setTimeout(r, 300)); // the snapshot is written after the response
    await seed.dispose();
    const once = async (make, headers, expect, into) => {
      const mf = await make();
      try {
        await mf.ready;
        const { ms: t, status } = await firstRequest(mf, headers);
        if (status !== expect) throw new Error(`first request: ${status}, expected ${expect}`);
        into.push(t);
      } finally {
        await mf.dispose();
      }
    };
    for (let i = 0; i < 5; i += 1) {
      const valid = { authorization: `Bearer ${await token('ES256', 100 + i, 'api')}` };
      await once(passThrough, {}, 200, firsts.through);
      await once(() => worker('ES256,EdDSA,RS256,PS256'), { authorization: 'Bearer a.b.c' }, 401, firsts.malformed);
      await once(() => worker('ES256,EdDSA,RS256,PS256', persist), valid, 200, firsts.snapshot);
      await once(() => worker('ES256,EdDSA,RS256,PS256'), valid, 200, firsts.network);
    }
  } finally {
    fs.rmSync(persist, { recursive: true, force: true });
  }
  const med = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);
  const plainFirst = med(firsts.through);
  console.log('\nthe first request in a fresh workerd (median of 5), and what Tessera adds to the pass-through worker\'s first request\n');
  console.log('| first request | time | added |');
  console.log('|---|---|---|');
  console.log(`| pass-through worker | ${ms(plainFirst)} | |`);
  console.log(`| Tessera, malformed token (module, configuration, engine) | ${ms(med(firsts.malformed))} | ${ms(med(firsts.malformed) - plainFirst)} |`);
  console.log(`| Tessera, valid ES256 token, key set in the Cache API | ${ms(med(firsts.snapshot))} | ${ms(med(firsts.snapshot) - plainFirst)} |`);
  console.log(`| Tessera, valid ES256 token, discovery and key set from 127.0.0.1 | ${ms(med(firsts.network))} | ${ms(med(firsts.network) - plainFirst)} |`);
} finally {
  await rust.dispose();
  await webcrypto.dispose();
  await origin.close();
  issuerServer.close();
}
