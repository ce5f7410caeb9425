// What protecting APIs costs per request (Node), beside jose in the same run:
//
//   plain        a bearer request, memo hit, a route without requirements
//   required     the same on a route requiring scopes, any-of roles, a claim
//                and the kind of caller (the check runs on every request)
//   partner      a memo hit of a trusted second issuer's token
//   dpop         a DPoP-bound token (memo hit) with a new ES256 proof each
//                request: one proof signature check, its jti recorded
//
// jose: jwtVerify of the same token (bearer rows), and for DPoP jwtVerify of
// the token plus jwtVerify of the proof with EmbeddedJWK and the thumbprint
// (what an app doing DPoP with jose must do at least).
//
// Run: node js/bench/authorization.mjs [--quick]
import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  EmbeddedJWK, SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify,
} from 'jose';
import { createTessera } from 'tessera-edge';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const OPS = QUICK ? 3000 : 20000;
const AUDIENCE = 'https://api.bench.test';
const APP = 'https://app.bench.test';

async function measure(ops, fn) {
  for (let i = 0; i < Math.min(ops, 3000); i += 1) await fn(i);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t0 = performance.now();
    for (let i = 0; i < ops; i += 1) await fn(i);
    rounds.push(((performance.now() - t0) * 1000) / ops);
  }
  rounds.sort((a, b) => a - b);
  return rounds[rounds.length >> 1];
}

/** An issuer on 127.0.0.1 serving discovery and its key set. */
async function issuerWithKey() {
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
  const sign = (claims) => new SignJWT({ scope: 'orders:read', roles: ['support'], tier: 2, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer(issuer).setAudience(AUDIENCE).setSubject('user_bench')
    .setIssuedAt().setExpirationTime('2h')
    .sign(privateKey);
  return { issuer, jwk, sign, close: () => server.close() };
}

const main = await issuerWithKey();
const partner = await issuerWithKey();
const client = await generateKeyPair('ES256', { extractable: true });
const clientJwk = await exportJWK(client.publicKey);
const jkt = await calculateJwkThumbprint(clientJwk);

const token = await main.sign({});
const partnerToken = await partner.sign({});
const bound = await main.sign({ cnf: { jkt } });
const ath = createHash('sha256').update(bound).digest('base64url');
const proof = () => new SignJWT({ htm: 'GET', htu: `${APP}/api/plain`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath })
  .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
  .sign(client.privateKey);

const tessera = await createTessera({
  issuer: main.issuer,
  appOrigin: APP,
  verification: { audience: AUDIENCE, algorithms: ['ES256'] },
  trustedIssuers: [{ issuer: partner.issuer, verification: { audience: AUDIENCE, algorithms: ['ES256'] } }],
  routes: [
    { pattern: '/api/required/**', access: 'api',
      require: { scopes: ['orders:read'], roles: { anyOf: ['admin', 'support'] }, claims: { tier: 2 }, kind: 'user' } },
    { pattern: '/api/**', access: 'api' },
  ],
});
const req = (path, t, extra = {}) => new Request(`${APP}${path}`, { headers: { authorization: `Bearer ${t}`, ...extra } });
const plain = req('/api/plain', token);
const required = req('/api/required/x', token);
const fromPartner = req('/api/plain', partnerToken);
for (const r of [plain, required, fromPartner]) {
  const out = await tessera.authenticateRequest(r);
  if (out.status !== 'signed-in') throw new Error(`the bench request must pass: ${out.reason} ${out.message}`);
}
// The proofs are made before timing: signing is the client's cost.
const proofs = [];
for (let i = 0; i < OPS + 3000; i += 1) proofs.push(await proof());
const dpopRequest = (i) => new Request(`${APP}/api/plain`, { headers: { authorization: `DPoP ${bound}`, dpop: proofs[i] } });
{
  const out = await tessera.authenticateRequest(dpopRequest(proofs.length - 1));
  if (out.status !== 'signed-in') throw new Error(`the DPoP bench request must pass: ${out.reason} ${out.message}`);
}

const rows = [];
for (const [name, make] of [
  ['plain', () => () => tessera.authenticateRequest(plain)],
  ['required', () => () => tessera.authenticateRequest(required)],
  ['partner', () => () => tessera.authenticateRequest(fromPartner)],
]) {
  rows.push([name, await measure(OPS, make())]);
}
// Each DPoP round takes fresh proofs: a proof is accepted once.
let next = 0;
const dpop = await measure(Math.floor(OPS / ROUNDS) - 500, () => tessera.authenticateRequest(dpopRequest(next++ % proofs.length)));

const keys = createLocalJWKSet({ keys: [main.jwk] });
const verifyOptions = { issuer: main.issuer, audience: AUDIENCE, algorithms: ['ES256'] };
const jose = await measure(QUICK ? 2000 : 8000, () => jwtVerify(token, keys, verifyOptions));
const joseProofs = [];
for (let i = 0; i < 4000; i += 1) joseProofs.push(await proof());
const joseDpop = await measure(500, async (i) => {
  await jwtVerify(bound, keys, verifyOptions);
  const { protectedHeader } = await jwtVerify(joseProofs[i % joseProofs.length], EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
  if ((await calculateJwkThumbprint(protectedHeader.jwk)) !== jkt) throw new Error('thumbprint');
});
main.close();
partner.close();

console.log(`tessera-edge authenticateRequest per request, Node ${process.version}, ${ROUNDS} rounds (median), µs per call; jose beside it in the same run\n`);
console.log('| case | tessera-edge | jose | jose / tessera |');
console.log('|---|---:|---:|---:|');
for (const [name, us] of rows) console.log(`| ${name} | ${us.toPrecision(3)} | ${jose.toPrecision(3)} | ${(jose / us).toFixed(1)}× |`);
console.log(`| dpop (token memo hit + new proof) | ${dpop.toPrecision(3)} | ${joseDpop.toPrecision(3)} | ${(joseDpop / dpop).toFixed(1)}× |`);
console.log(`\nrequired / plain: ${(rows[1][1] / rows[0][1]).toFixed(2)}; partner / plain: ${(rows[2][1] / rows[0][1]).toFixed(2)}`);
