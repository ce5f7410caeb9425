// tessera-edge against jose inside workerd (miniflare), measured in the same
// run: a JS worker bundled by wrangler (the `workerd` export condition) times
// the libraries in the isolate (js/bench/workerd-worker.mjs), so no request
// overhead enters the figures.
//
//   cold  every token is new: the signature check (WebCrypto for ES256 and
//         RS256 on both sides; EdDSA: WebAssembly in tessera-edge, WebCrypto
//         in jose), beside WebCrypto's verify alone and tessera-edge with
//         every check in WebAssembly
//   memo  one token verified again and again
//   first a fresh workerd per sample: setting the library up and verifying
//         its first token (the key set at hand: jose's local set, the
//         documents served from memory to tessera-edge), in the isolate
//
// Each library first verifies WARMUP new tokens (V8 optimizes hot code after
// some thousands of calls); then the rounds interleave the libraries, each
// verifying the same new tokens. workerd's clock advances in whole milliseconds, so
// every timed batch runs for tens of milliseconds. Prints µs per verification
// (median of rounds) and the ratio jose ÷ tessera-edge.
// Run: node js/bench/workerd.mjs [--quick]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startKeyServer } from './keys.mjs';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const COLD = QUICK ? 100 : 300;
const MEMO = QUICK ? 5000 : 20000;
const WARMUP = QUICK ? 2000 : 10000;
const AUDIENCE = 'https://api.bench.test';
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

// Bundle the bench worker as a user of the package would (wrangler 4, workerd condition).
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-workerd-bench-'));
// Its own wrangler.toml, so wrangler does not pick up the repository's (the Rust worker's).
const config = path.join(out, 'wrangler.toml');
fs.writeFileSync(config, `name = "bench"\nmain = ${JSON.stringify(path.join(here, 'workerd-worker.mjs'))}\ncompatibility_date = "2026-04-20"\n`);
execFileSync(path.join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--config', config, '--outdir', path.join(out, 'dist')], {
  cwd: out,
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false', XDG_CONFIG_HOME: path.join(out, 'config') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
// A fresh workerd per algorithm (all libraries in it), as in verify.mjs: an
// algorithm measured after others inherits their heap and compiled code.
const FIRSTS = QUICK ? 3 : 7;
const start = () => new Miniflare({
  modules: true,
  scriptPath: path.join(out, 'dist/workerd-worker.js'),
  modulesRoot: path.join(out, 'dist'),
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
  compatibilityDate: '2026-04-20',
});
let mf = null;

async function run(job) {
  const res = await mf.dispatchFetch('http://bench.test/', { method: 'POST', body: JSON.stringify(job) });
  const answer = await res.json();
  if (answer.error) throw new Error(answer.error);
  return answer.us;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
try {
  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined, extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: `bench-${alg}`, alg, use: 'sig' };
    const { server, issuer } = await startKeyServer({ keys: [jwk] });
    mf = start();
    try {
      const now = Math.floor(Date.now() / 1000);
      const sign = (i) => new SignJWT({ sid: `sess_${i}`, scope: 'read write' })
        .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
        .setIssuer(issuer).setAudience(AUDIENCE).setSubject(`user_${i}`)
        .setIssuedAt(now).setExpirationTime(now + 600).setJti(`t${i}`)
        .sign(privateKey);
      const tokens = await Promise.all(Array.from({ length: WARMUP + COLD * ROUNDS }, (_, i) => sign(i)));
      const job = { issuer, audience: AUDIENCE, alg, jwks: { keys: [jwk] } };
      const libs = ['tessera', 'jose', 'subtle', 'wasm'];
      for (const lib of libs) {
        for (let i = 0; i < WARMUP; i += COLD) await run({ ...job, lib, tokens: tokens.slice(i, i + COLD), repeat: 1 });
      }
      // Rounds interleave the libraries (in a rotating order): the same build's
      // speed moves between workerds and over time on this machine, and a
      // library measured only after another would carry that drift into the ratio.
      const cold = Object.fromEntries(libs.map((lib) => [lib, []]));
      const memo = { tessera: [], jose: [] };
      for (let r = 0; r < ROUNDS; r += 1) {
        const from = WARMUP + r * COLD;
        for (let k = 0; k < libs.length; k += 1) {
          const lib = libs[(r + k) % libs.length];
          cold[lib].push(await run({ ...job, lib, tokens: tokens.slice(from, from + COLD), repeat: 1 }));
          if (lib in memo) memo[lib].push(await run({ ...job, lib, tokens: [tokens[0]], repeat: MEMO }));
        }
      }
      const figures = Object.fromEntries(libs.map((lib) => [lib, { cold: median(cold[lib]), memo: lib in memo ? median(memo[lib]) : null }]));
      // First verification: a fresh workerd for each sample, the two libraries alternating.
      const firsts = { tessera: [], jose: [] };
      for (let r = 0; r < FIRSTS; r += 1) {
        for (const lib of r % 2 ? ['jose', 'tessera'] : ['tessera', 'jose']) {
          const fresh = start();
          try {
            const res = await fresh.dispatchFetch('http://bench.test/', { method: 'POST', body: JSON.stringify({ ...job, lib, first: true, tokens: [tokens[r]] }) });
            const answer = await res.json();
            if (answer.error) throw new Error(answer.error);
            firsts[lib].push(answer.ms);
          } finally {
            await fresh.dispose();
          }
        }
      }
      figures.tessera.first = median(firsts.tessera);
      figures.jose.first = median(firsts.jose);
      rows.push({ alg, ...figures });
    } finally {
      server.close();
      await mf.dispose();
      mf = null;
    }
  }
} finally {
  await mf?.dispose();
  fs.rmSync(out, { recursive: true, force: true });
}

const fmt = (us) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
const ratio = (ours, theirs) => `${(theirs / ours).toFixed(1)}×`;
console.log(`\nµs per verification inside workerd, median of ${ROUNDS} rounds; ratio = jose ÷ tessera-edge (above 1: tessera-edge is faster)\n`);
console.log(`cold (${COLD} new tokens a round)\n`);
console.log('| alg | tessera-edge | jose | ratio | WebCrypto verify alone | tessera-edge, all in Wasm |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const { alg, tessera, jose, subtle, wasm } of rows) {
  console.log(`| ${alg} | ${fmt(tessera.cold)} | ${fmt(jose.cold)} | ${ratio(tessera.cold, jose.cold)} | ${fmt(subtle.cold)} | ${fmt(wasm.cold)} |`);
}
console.log(`\nmemo (one token ${MEMO} times a round)\n`);
console.log('| alg | tessera-edge | jose | ratio |');
console.log('|---|---:|---:|---:|');
for (const { alg, tessera, jose } of rows) {
  console.log(`| ${alg} | ${fmt(tessera.memo)} | ${fmt(jose.memo)} | ${ratio(tessera.memo, jose.memo)} |`);
}
console.log(`\nfirst verification in a fresh workerd (set-up and first token, ms, median of ${FIRSTS}; the clock counts whole ms)\n`);
console.log('| alg | tessera-edge | jose | tessera-edge − jose |');
console.log('|---|---:|---:|---:|');
for (const { alg, tessera, jose } of rows) {
  console.log(`| ${alg} | ${tessera.first} | ${jose.first} | ${tessera.first - jose.first} |`);
}
