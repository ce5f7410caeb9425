// tessera-edge against jose, measured in the same run (Node): `verify(token)`
// beside jose's `jwtVerify` with a local key set (`createLocalJWKSet`) and with
// a remote one (`createRemoteJWKSet`, from a JWKS server on 127.0.0.1, cached
// after its first fetch). tessera-edge reads the same server through discovery.
//
//   cold  every token is new (no memo can help): the signature check dominates
//   memo  one token verified again and again (a 60 s session token serving many requests)
//   mix   1,000 sessions with 60 s tokens, picked Zipf(1)-distributed, over a
//         simulated 3 minutes: each session's token is reissued every minute
//
// Each library first verifies WARMUP new tokens: V8 runs WebAssembly (and
// JavaScript) in a baseline tier first and optimizes the hot functions after
// some thousands of calls, so a fresh process verifies its first ~1,000 tokens
// several times slower than the figures below, which are a busy server's.
//
// Each algorithm runs in a Node process of its own (both libraries in it), as
// a server verifying one provider's tokens would: run one after another in one
// process, an algorithm inherits the heap and the compiled code of those before
// it, which moved tessera-edge's RS256 figures by up to 2× when it ran last.
//
// Prints µs per verification (median of rounds) and how many times faster
// tessera-edge is than each jose setup. Run: node js/bench/verify.mjs [--quick]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { SignJWT, createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { createTessera } from 'tessera-edge';
import { startKeyServer } from './keys.mjs';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const WARMUP = QUICK ? 2000 : 10000;
const AUDIENCE = 'https://api.bench.test';
const SESSIONS = 1000;
const TOKEN_TTL = 60;
const START = Math.floor(Date.now() / 1000);

/** A seeded PRNG (mulberry32), so every run draws the same request mix. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Session indices drawn Zipf(1) over `n` sessions. */
function zipf(n, count, random) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k += 1) cdf[k] = sum += 1 / (k + 1);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i += 1) {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}

/** Median µs per call of `fn(i)` over `ops` sequential calls, `ROUNDS` times. */
async function measure(ops, fn) {
  for (let i = 0; i < Math.min(ops, 200); i += 1) await fn(i);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t0 = performance.now();
    for (let i = 0; i < ops; i += 1) await fn(i);
    rounds.push(((performance.now() - t0) * 1000) / ops);
  }
  rounds.sort((a, b) => a - b);
  return rounds[rounds.length >> 1];
}

async function benchAlg(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined, extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: `bench-${alg}`, alg, use: 'sig' };
  const { server, issuer } = await startKeyServer({ keys: [jwk] });
  const sign = (sub, iat, jti) => new SignJWT({ sid: `sess_${sub}`, scope: 'read write' })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(issuer).setAudience(AUDIENCE).setSubject(`user_${sub}`)
    .setIssuedAt(iat).setExpirationTime(iat + TOKEN_TTL).setJti(jti)
    .sign(privateKey);

  // The simulated clock (ms) both libraries read.
  let clock = (START + 1) * 1000;
  const tessera = await createTessera({ issuer, verification: { audience: AUDIENCE, algorithms: [alg] } }, { now: () => clock });
  const local = createLocalJWKSet({ keys: [jwk] });
  const remote = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  // The same checks on both sides: issuer, audience, algorithm, 5 s clock tolerance (tessera's default leeway).
  const options = { issuer, audience: AUDIENCE, algorithms: [alg], clockTolerance: 5 };
  const joseAt = (keys) => async (token) => {
    const { payload } = await jwtVerify(token, keys, { ...options, currentDate: new Date(clock) });
    if (!payload.sub) throw new Error('no sub');
  };
  const check = async (token) => {
    const r = await tessera.verify(token);
    if (!r.valid) throw new Error(`tessera refused a good token: ${r.reason}: ${r.message}`);
  };
  const libs = { tessera: check, joseLocal: joseAt(local), joseRemote: joseAt(remote) };

  // cold: distinct tokens, each verified once per round by each library.
  const coldOps = QUICK ? 300 : 1000;
  const cold = await Promise.all(Array.from({ length: coldOps * (ROUNDS + 1) }, (_, i) => sign(i % SESSIONS, START, `cold-${i}`)));
  // mix: 3 simulated minutes of requests; session s's token is reissued at minute boundaries offset by s.
  const mixOps = QUICK ? 3000 : 12000;
  const picks = zipf(SESSIONS, mixOps, prng(42));
  const span = 180;
  const epochOf = (i, s) => Math.floor((i * span) / mixOps / TOKEN_TTL + s / SESSIONS);
  const mixTokens = new Map();
  for (let i = 0; i < mixOps; i += 1) {
    const s = picks[i];
    const key = `${s}:${epochOf(i, s)}`;
    if (!mixTokens.has(key)) mixTokens.set(key, null);
  }
  for (const key of mixTokens.keys()) {
    const [s, e] = key.split(':').map(Number);
    const iat = START + Math.floor((e - s / SESSIONS) * TOKEN_TTL);
    mixTokens.set(key, await sign(s, Math.max(START - TOKEN_TTL + 1, iat), `mix-${key}`));
  }
  const mixToken = (i) => mixTokens.get(`${picks[i]}:${epochOf(i, picks[i])}`);
  const mixClock = (i) => (START + (i * span) / mixOps) * 1000;

  const warm = await Promise.all(Array.from({ length: WARMUP }, (_, i) => sign(i % SESSIONS, START, `warm-${i}`)));

  const out = { alg, distinctMixTokens: mixTokens.size };
  for (const [name, verify] of Object.entries(libs)) {
    clock = (START + 1) * 1000;
    for (const token of warm) await verify(token);
    let round = 0;
    out[name] = {
      cold: await measure(coldOps, (i) => { clock = (START + 1) * 1000; if (i === 0) round += 1; return verify(cold[(round % (ROUNDS + 1)) * coldOps + i]); }),
      memo: await measure(QUICK ? 2000 : 10000, () => { clock = (START + 1) * 1000; return verify(cold[0]); }),
      mix: await measure(mixOps, (i) => { clock = mixClock(i); return verify(mixToken(i)); }),
    };
  }
  server.close();
  return out;
}

const fmt = (us) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
const ratio = (base, ours) => `${(base / ours).toFixed(1)}×`;

/** One algorithm in a child process of this script (`--alg <name>`: print its figures as JSON). */
function benchInChild(alg) {
  const args = [fileURLToPath(import.meta.url), '--alg', alg, ...(QUICK ? ['--quick'] : [])];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
}

const only = process.argv.indexOf('--alg');
if (only !== -1) {
  process.stdout.write(JSON.stringify(await benchAlg(process.argv[only + 1])));
  process.exit(0);
}

console.log(`tessera-edge vs jose, Node ${process.version}, ${ROUNDS} rounds (median), µs per verification; ratio = jose time / tessera-edge time`);
console.log('');
console.log('| alg | case | tessera-edge | jose local JWKS | ratio | jose remote JWKS | ratio |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const alg of ['ES256', 'EdDSA', 'RS256']) {
  const r = benchInChild(alg);
  for (const c of ['cold', 'memo', 'mix']) {
    const t = r.tessera[c];
    console.log(`| ${alg} | ${c} | ${fmt(t)} | ${fmt(r.joseLocal[c])} | ${ratio(r.joseLocal[c], t)} | ${fmt(r.joseRemote[c])} | ${ratio(r.joseRemote[c], t)} |`);
  }
}
console.log('');
console.log(`mix: ${SESSIONS} sessions, Zipf(1), ${TOKEN_TTL} s tokens over 3 simulated minutes; tessera-edge signatures: node:crypto (ES256, RS256), WebAssembly (EdDSA)`);
