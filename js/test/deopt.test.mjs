// Node 20's V8 inlines calls to WebAssembly functions into the optimized
// JavaScript that makes them, and aborts the whole process ("Fatal error …
// unreachable code" in Deoptimizer::DoComputeBuiltinContinuation) when that
// JavaScript is deoptimized while an inlined call returning one `externref`
// is running. The engine calls back into JavaScript mid-call (the synchronous
// node:crypto check, JSON.parse), and any of those callbacks can trigger such
// a deoptimization; the bench once took a Node process down this way. The
// binding returns its values as `Result`s (several WebAssembly results, which
// V8 does not inline). This test provokes the deoptimization on purpose, in a
// child Node with --allow-natives-syntax: the optimized caller is deoptimized
// from inside the signature check, and the child must live and give the
// right verdicts. DEOPT_DIST=file:///path/to/dist/ runs it against another
// build (a build from before the fix aborts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const dist = process.env.DEOPT_DIST ?? new URL('../dist/', import.meta.url).href;
const jose = import.meta.resolve('jose');

const CHILD = `
import http from 'node:http';
import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from '${jose}';
import { readFileSync } from 'node:fs';
import { Core, initSync } from '${dist}wasm/tessera.js';
import { create } from '${dist}core.js';

const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256', use: 'sig' };
const server = http.createServer((req, res) => {
  const issuer = 'http://127.0.0.1:' + server.address().port;
  const body = req.url === '/jwks' ? { keys: [jwk] } : { issuer, jwks_uri: issuer + '/jwks' };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const issuer = 'http://127.0.0.1:' + server.address().port;
const now = Math.floor(Date.now() / 1000);
let n = 0;
const sign = () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer(issuer)
  .setAudience('aud').setSubject('u' + (n += 1)).setIssuedAt(now).setExpirationTime(now + 600).sign(privateKey);

// A synchronous backend like node-crypto.js that, when armed, deoptimizes
// the function that called into the engine (it is on the stack, suspended
// in the inlined WebAssembly call).
let victim = null;
const backend = {
  algorithms: ['ES256'],
  sync: true,
  verify(check) {
    if (victim) { %DeoptimizeFunction(victim); victim = null; }
    return nodeVerify('sha256', check.signingInput, { key: createPublicKey({ key: Buffer.from(check.spki), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, check.signature);
  },
};
initSync({ module: readFileSync(new URL('wasm/tessera_bg.wasm', '${dist}')) });
const config = { issuer, verification: { audience: 'aud', algorithms: ['ES256'] }, routes: [{ pattern: '/api', access: 'api' }] };
const tessera = await create(Core, config, {}, backend);

/** Optimizes fn (after real calls, so the engine call is inlined), then deoptimizes it mid-call. */
async function provoke(name, fn, call) {
  %PrepareFunctionForOptimization(fn);
  for (let i = 0; i < 60; i += 1) await call();
  // The optimizing call itself may deoptimize fn (feedback it had not seen,
  // more likely on a loaded machine): optimize again, a few times at most.
  let optimized = false;
  for (let attempt = 0; attempt < 5 && !optimized; attempt += 1) {
    %PrepareFunctionForOptimization(fn);
    %OptimizeFunctionOnNextCall(fn);
    await call();
    optimized = (%GetOptimizationStatus(fn) & 16) !== 0;
  }
  victim = fn;
  const result = await call();
  const armed = victim === null;
  console.log(JSON.stringify({ name, optimized, armed, result }));
}

// The host's own entry points, as an app calls them.
const verify = tessera.verify;
await provoke('Tessera.verify', verify, async () => {
  const r = await tessera.verify(await sign());
  return r.valid ? r.identity.sub : r.reason;
});
const authenticate = tessera.authenticateRequest;
await provoke('Tessera.authenticateRequest', authenticate, async () => {
  const r = await tessera.authenticateRequest(new Request('http://127.0.0.1/api', { headers: { authorization: 'Bearer ' + await sign() } }));
  return r.identity ? r.identity.sub : r.reason;
});
// A plain function calling the binding directly.
const core = new Core(JSON.stringify(config), ['ES256'], (alg, keyId, k, input, sig) => backend.verify({ alg, keyId, spki: k, signingInput: input, signature: sig }));
let first = core.verifyToken(await sign(), now);
while (first.kind === 'fetch') {
  const r = await fetch(first.request.url);
  first = core.resumeResponse(first.id, r.status, undefined, new Uint8Array(await r.arrayBuffer()), now, crypto.getRandomValues(new Uint8Array(32)));
}
function direct(token) { return core.verifyToken(token, now); }
await provoke('Core.verifyToken', direct, async () => {
  const step = direct(await sign());
  return step.identity ? step.identity.sub : step.reason;
});
server.close();
`;

test('a deoptimization of the caller while the engine calls back into JavaScript does not abort Node', () => {
  const child = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', CHILD], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.signal, null, `the child Node was killed by ${child.signal}:\n${child.stderr.slice(0, 2000)}`);
  assert.equal(child.status, 0, child.stderr.slice(0, 2000));
  const runs = child.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(runs.map((r) => r.name), ['Tessera.verify', 'Tessera.authenticateRequest', 'Core.verifyToken']);
  for (const run of runs) {
    // The setup must really have optimized the caller and deoptimized it
    // from inside the check, or this test proves nothing.
    assert.equal(run.optimized, true, `${run.name} was not optimized`);
    assert.equal(run.armed, true, `${run.name}: the signature check did not run`);
    assert.match(run.result, /^u\d+$/, `${run.name}: ${run.result}`);
  }
});
