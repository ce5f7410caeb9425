// The signature backends agree: the same tokens (valid, and mutated in the
// ways that matter) get the same verdict whether the signature is checked by
// node:crypto, by WebCrypto or by the pure-Rust check in WebAssembly. Keys
// and tokens from jose; the key set served from 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { Core, initSync } from '../dist/wasm/tessera.js';
import { create } from '../dist/core.js';
import { nodeCrypto } from '../dist/node-crypto.js';
import { webCrypto } from '../dist/webcrypto.js';
import { lenientOnly, lenientOnlyTokens } from '../../tests/e2e/ed25519.mjs';

const ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'];
const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
const P256_N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

/** A valid token and mutations of it: each is a case every backend must decide alike. */
function cases(alg, token, jwk) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  const flip = (i) => { const x = Buffer.from(sig); x[i] ^= 1; return `${h}.${p}.${b64(x)}`; };
  const out = {
    valid: token,
    'first signature byte flipped': flip(0),
    'last signature byte flipped': flip(sig.length - 1),
    'signature truncated': `${h}.${p}.${b64(sig.subarray(0, sig.length - 1))}`,
    'signature zero': `${h}.${p}.${b64(Buffer.alloc(sig.length))}`,
    'payload changed': `${h}.${b64(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: 'mallory' }))}.${s}`,
  };
  if (alg === 'ES256') {
    // s replaced by n − s: ECDSA's other valid signature of the same message
    // (JWS does not require low s; jose accepts it too). The claims are the
    // signed ones, so every backend must accept it alike.
    const r = sig.subarray(0, 32);
    const sv = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const high = (BigInt(`0x${P256_N.toString('hex')}`) - sv).toString(16).padStart(64, '0');
    out['s replaced by n - s'] = `${h}.${p}.${b64(Buffer.concat([r, Buffer.from(high, 'hex')]))}`;
    out['r = n'] = `${h}.${p}.${b64(Buffer.concat([P256_N, sig.subarray(32)]))}`;
  }
  if (alg === 'EdDSA') Object.assign(out, lenientOnlyTokens(jwk, token));
  return out;
}

describe('signature backends agree', { timeout: 60_000 }, () => {
  let server;
  let issuer;
  const tokens = {};
  const privateJwks = {};
  const jwks = { keys: [] };

  before(async () => {
    initSync({ module: readFileSync(new URL('../dist/wasm/tessera_bg.wasm', import.meta.url)) });
    server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.url === '/jwks' ? jwks : { issuer, jwks_uri: `${issuer}/jwks` }));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${server.address().port}`;
    for (const alg of ALGS) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      jwks.keys.push({ ...(await exportJWK(publicKey)), kid: alg, alg });
      privateJwks[alg] = await exportJWK(privateKey);
      tokens[alg] = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg, kid: alg })
        .setIssuer(issuer).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    }
  });
  after(() => server?.close());

  test('node:crypto, WebCrypto and WebAssembly give the same verdict on every case', async () => {
    const config = { issuer, verification: { algorithms: ALGS } };
    const calls = { 'node:crypto': 0, WebCrypto: 0, 'WebCrypto with Ed25519': 0, 'WebCrypto without Ed25519': 0 };
    // A WebCrypto without Ed25519, as in a workerd older than it: a fake (no
    // runtime here lacks it) whose import refuses the algorithm the way
    // WebCrypto does, with a NotSupportedError. EdDSA falls back to WebAssembly.
    let ed25519Imports = 0;
    const withoutEd25519 = {
      importKey: (format, data, algorithm, ...rest) => {
        if ((algorithm?.name ?? algorithm) !== 'Ed25519') return crypto.subtle.importKey(format, data, algorithm, ...rest);
        ed25519Imports += 1;
        return Promise.reject(new DOMException('Unrecognized algorithm name', 'NotSupportedError'));
      },
      verify: (...args) => crypto.subtle.verify(...args),
    };
    const checked = [];
    const counted = (name, backend) => ({
      algorithms: backend.algorithms,
      sync: backend.sync,
      verify: (check) => {
        calls[name] += 1;
        checked.push(`${name} ${check.alg} ${Buffer.from(check.signature).toString('base64url')}`);
        return backend.verify(check);
      },
    });
    const backends = {
      'node:crypto': await create(Core, config, {}, counted('node:crypto', nodeCrypto())),
      WebCrypto: await create(Core, config, {}, counted('WebCrypto', webCrypto())),
      'WebCrypto with Ed25519': await create(Core, config, {}, counted('WebCrypto with Ed25519', webCrypto(undefined, { ed25519: true }))),
      'WebCrypto without Ed25519': await create(Core, config, {}, counted('WebCrypto without Ed25519', webCrypto(withoutEd25519, { ed25519: true }))),
      WebAssembly: await create(Core, config, { signatures: 'wasm' }, null),
    };
    // Node's WebCrypto Ed25519 (OpenSSL) checks the cofactorless equation only:
    // the small-order case below passes it, so only the core's strict rules refuse it.
    const lenient = lenientOnly(privateJwks.EdDSA, 'x', Buffer.alloc(64))['R of small order (the identity), s = k·a'];
    const key = await crypto.subtle.importKey('jwk', { ...privateJwks.EdDSA, d: undefined }, { name: 'Ed25519' }, false, ['verify']);
    assert.equal(await crypto.subtle.verify('Ed25519', key, lenient, Buffer.from('x')), true, 'the runtime check alone accepts it');
    let valid = 0;
    for (const alg of ALGS) {
      for (const [name, token] of Object.entries(cases(alg, tokens[alg], privateJwks[alg]))) {
        const verdicts = {};
        for (const [backend, tessera] of Object.entries(backends)) {
          const r = await tessera.verify(token);
          verdicts[backend] = r.valid ? 'valid' : r.reason;
        }
        const distinct = new Set(Object.values(verdicts));
        assert.equal(distinct.size, 1, `${alg} ${name}: ${JSON.stringify(verdicts)}`);
        if (name === 'valid' || name === 's replaced by n - s') {
          assert.equal(verdicts.WebAssembly, 'valid', `${alg} ${name}: a genuine signature verifies`);
          valid += 1;
        } else {
          assert.notEqual(verdicts.WebAssembly, 'valid', `${alg} ${name} is refused`);
        }
      }
    }
    assert.equal(valid, ALGS.length + 1);
    // ES256, RS256, PS256: the hosts checked them; EdDSA only where Ed25519 is enabled.
    assert.ok(calls['node:crypto'] >= 15 && calls.WebCrypto === calls['node:crypto'], JSON.stringify(calls));
    const edHosts = ['WebCrypto with Ed25519 ', 'WebCrypto without Ed25519 '];
    assert.ok(!checked.some((c) => c.includes(' EdDSA ') && !edHosts.some((h) => c.startsWith(h))), 'EdDSA stays in WebAssembly by default');
    // Without Ed25519: one attempt, on the first EdDSA token; every verdict above
    // was the others' (WebAssembly's), and no EdDSA check went to that host again.
    assert.equal(ed25519Imports, 1);
    assert.equal(checked.filter((c) => c.startsWith('WebCrypto without Ed25519 EdDSA ')).length, 1);
    // The valid EdDSA signature reached the host; what the strict rules refuse never did.
    const sent = (token) => checked.includes(`WebCrypto with Ed25519 EdDSA ${token.split('.')[2]}`);
    const ed = cases('EdDSA', tokens.EdDSA, privateJwks.EdDSA);
    assert.ok(sent(ed.valid));
    assert.ok(!sent(ed['s + l (not canonical)']) && !sent(ed['R of small order (the identity), s = k·a']));
  });
});
