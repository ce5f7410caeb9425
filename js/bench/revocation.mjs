// What the revocation check costs on every request (Node): the same repeat
// JWT (a memo hit) through tessera-edge with no revocations held, and with
// 100,000 held (sign-outs and revoked users, none of them this token's),
// beside jose's jwtVerify of the same token in the same run.
//
//   verify       tessera.verify(token)               (the token-only API)
//   request      authenticateRequest, bearer on /api (the request path)
//
// Run: node js/bench/revocation.mjs [--quick]
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { createTessera } from 'tessera-edge';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const OPS = QUICK ? 5000 : 30000;
const HELD = 100_000;
const AUDIENCE = 'https://api.bench.test';

/** Median µs per call of `fn()` over `ops` sequential calls, `ROUNDS` times. */
async function measure(ops, fn) {
  for (let i = 0; i < 5000; i += 1) await fn();
  const rounds = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t0 = performance.now();
    for (let i = 0; i < ops; i += 1) await fn();
    rounds.push(((performance.now() - t0) * 1000) / ops);
  }
  rounds.sort((a, b) => a - b);
  return rounds[rounds.length >> 1];
}

const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const server = http.createServer((req, res) => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const answer = req.url === '/jwks' ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/jwks` };
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
  res.end(JSON.stringify(answer));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const token = await new SignJWT({ sid: 'op-session-1', scope: 'read' })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
  .setIssuer(issuer).setAudience(AUDIENCE).setSubject('user_bench')
  .setIssuedAt().setExpirationTime('2h')
  .sign(privateKey);

const config = { issuer, verification: { audience: AUDIENCE, algorithms: ['ES256'] }, routes: [{ pattern: '/api/**', access: 'api' }] };
const empty = await createTessera(config);
const full = await createTessera(config);
for (let i = 0; i < HELD; i += 1) {
  const which = i % 3;
  await full.revoke(which === 0 ? { session: `session-${i}` } : which === 1 ? { sid: `op-session-x${i}` } : { sub: `user_${i}` });
}
if (full.storeStats.revocations !== HELD) throw new Error(`expected ${HELD} revocations, held ${full.storeStats.revocations}`);
const request = new Request('http://app.bench.test/api/me', { headers: { authorization: `Bearer ${token}` } });
for (const t of [empty, full]) {
  if (!(await t.verify(token)).valid) throw new Error('the bench token must verify');
  if ((await t.authenticateRequest(request)).status !== 'signed-in') throw new Error('the bench request must pass');
}
const keys = createLocalJWKSet({ keys: [jwk] });

const rows = [];
for (const [name, run] of [
  ['verify', (t) => () => t.verify(token)],
  ['request', (t) => () => t.authenticateRequest(request)],
]) {
  // Alternated, so neither side gets the warmer process.
  const nones = [];
  const helds = [];
  for (let i = 0; i < 2; i += 1) {
    nones.push(await measure(OPS, run(empty)));
    helds.push(await measure(OPS, run(full)));
  }
  rows.push([name, Math.min(...nones), Math.min(...helds)]);
}
const jose = await measure(QUICK ? 2000 : 10000, () => jwtVerify(token, keys, { issuer, audience: AUDIENCE, algorithms: ['ES256'] }));
server.close();

console.log(`tessera-edge memo hits with no revocations and with ${HELD.toLocaleString('en')} held, Node ${process.version}, ${ROUNDS} rounds (median), µs per call; jose jwtVerify of the same token: ${jose.toPrecision(3)} µs\n`);
console.log('| path | none held | 100,000 held | held / none | jose / held |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, none, held] of rows) {
  console.log(`| ${name} | ${none.toPrecision(3)} | ${held.toPrecision(3)} | ${(held / none).toFixed(2)} | ${(jose / held).toFixed(1)}× |`);
}
