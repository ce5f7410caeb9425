// Opaque bearer tokens through introspection, measured beside a JWT in the
// same run (Node): tessera-edge's `authenticateRequest` for an API route
//
//   jwt memo       a JWT bearer token verified before (the memo hit)
//   opaque hit     an opaque token whose introspection answer is cached
//   jose local     jose's jwtVerify of the same JWT with a local key set
//   opaque miss    a new opaque token, 20 concurrent requests for it: one
//                  call to an introspection endpoint on 127.0.0.1 shared by
//                  all 20 (µs per request, and the calls counted)
//
// The endpoint answers at once, so a miss here is the cost of one local
// round trip; across a network it is that round trip, once per token and
// `introspection.maxAge`. Run: node js/bench/introspection.mjs [--quick]
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { createTessera } from 'tessera-edge';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const OPS = QUICK ? 3000 : 20000;
const AUDIENCE = 'https://api.bench.test';

/** Median µs per call of `fn(i)` over `ops` sequential calls, `ROUNDS` times. */
async function measure(ops, fn) {
  for (let i = 0; i < Math.min(ops, 2000); i += 1) await fn(i);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t0 = performance.now();
    for (let i = 0; i < ops; i += 1) await fn(i);
    rounds.push(((performance.now() - t0) * 1000) / ops);
  }
  rounds.sort((a, b) => a - b);
  return rounds[rounds.length >> 1];
}

const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
let calls = 0;
const server = http.createServer((req, res) => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    let answer = null;
    if (req.url === '/.well-known/openid-configuration') {
      answer = { issuer, jwks_uri: `${issuer}/jwks`, introspection_endpoint: `${issuer}/introspect` };
    } else if (req.url === '/jwks') {
      answer = { keys: [jwk] };
    } else if (req.url === '/introspect') {
      calls += 1;
      const token = new URLSearchParams(body).get('token');
      answer = { active: true, sub: `user_${token}`, client_id: 'bench', scope: 'read', exp: Math.floor(Date.now() / 1000) + 3600 };
    }
    res.writeHead(answer ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
    res.end(JSON.stringify(answer ?? {}));
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const tessera = await createTessera({
  issuer,
  clientId: 'bench',
  clientSecret: 'bench-secret',
  verification: { audience: AUDIENCE, algorithms: ['ES256'] },
  introspection: { maxAge: 3600 },
  routes: [{ pattern: '/api/**', access: 'api' }],
});
const jwt = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'ES256', kid: 'bench' })
  .setIssuer(issuer).setAudience(AUDIENCE).setSubject('user_jwt').setIssuedAt().setExpirationTime('1h').sign(privateKey);
const request = (token) => new Request('http://127.0.0.1/api/items', { headers: { authorization: `Bearer ${token}` } });
const admit = async (token) => {
  const r = await tessera.authenticateRequest(request(token));
  if (r.status !== 'signed-in') throw new Error(`${r.reason}: ${r.message}`);
};
const local = createLocalJWKSet({ keys: [jwk] });

const jwtMemo = await measure(OPS, () => admit(jwt));
const opaqueHit = await measure(OPS, () => admit('opaque-token-1'));
const joseLocal = await measure(OPS, () => jwtVerify(jwt, local, { issuer, audience: AUDIENCE, algorithms: ['ES256'] }));

// Misses: 20 concurrent requests for each new token.
const BURST = 20;
const TOKENS = QUICK ? 50 : 200;
const before = calls;
const t0 = performance.now();
for (let t = 0; t < TOKENS; t += 1) {
  await Promise.all(Array.from({ length: BURST }, () => admit(`new-token-${t}`)));
}
const missPerRequest = ((performance.now() - t0) * 1000) / (TOKENS * BURST);
const callsPerToken = (calls - before) / TOKENS;
server.close();

const fmt = (us) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
console.log(`tessera-edge authenticateRequest on an API route, Node ${process.version}, ${ROUNDS} rounds (median), µs per request`);
console.log('');
console.log('| case | µs | vs jwt memo | vs jose local jwtVerify |');
console.log('|---|---:|---:|---:|');
console.log(`| jwt memo hit | ${fmt(jwtMemo)} | 1.0× | ${(joseLocal / jwtMemo).toFixed(1)}× faster |`);
console.log(`| opaque, cached introspection answer | ${fmt(opaqueHit)} | ${(opaqueHit / jwtMemo).toFixed(2)}× the time | ${(joseLocal / opaqueHit).toFixed(1)}× faster |`);
console.log(`| jose local jwtVerify (same JWT) | ${fmt(joseLocal)} | | |`);
console.log(`| opaque, new token, ${BURST} concurrent requests | ${fmt(missPerRequest)} per request | | |`);
console.log('');
console.log(`introspection calls per new token (${BURST} concurrent requests each): ${callsPerToken}`);
