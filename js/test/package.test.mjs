// tessera-edge in Node against a real OpenID Provider (oidc-provider on
// 127.0.0.1): sign-in, verification of the tokens it issues (ES256, EdDSA,
// RS256), refresh under concurrency, key rotation, outages, hostile input and
// the key-set persistence hook. Runs the built package (js/dist) through its
// `node` export condition.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createTessera, REASONS, TesseraConfigError, verifyForwardedIdentity } from 'tessera-edge';
import { startIdp, CLIENT_ID, CLIENT_SECRET, API } from '../../tests/e2e/idp.mjs';
import { APP, Jar, accessToken, request, signIn } from './helpers.mjs';

const FORWARD_SECRET = 'forward-secret-of-at-least-32-bytes!';
import { COOKIE_KEYS, sleep } from '../../tests/e2e/stack.mjs';

const TTL = 4;

for (const alg of ['ES256', 'EdDSA', 'RS256']) {
  describe(`tessera-edge with ${alg} tokens from oidc-provider`, { timeout: 120_000 }, () => {
    let idp;
    let sessions;
    let verifier;
    const jar = new Jar();

    before(async () => {
      idp = await startIdp({ alg, redirectOrigin: APP, accessTokenTtl: TTL });
      sessions = await createTessera({
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        appOrigin: APP,
        cookieKeys: COOKIE_KEYS,
        cookies: { prefix: 'tessera', secure: false },
        resources: [API],
        authorizationParams: { prompt: 'consent' },
        verification: { audience: API, algorithms: [alg], leeway: 0 },
        refreshAhead: 1,
        routes: [{ pattern: '/api/**', access: 'api' }],
        forwardSigningSecret: FORWARD_SECRET,
      });
      // An origin server: verification only, no client, no cookies.
      verifier = await createTessera({ issuer: idp.issuer, verification: { audience: API, algorithms: [alg] } });
    });
    after(() => idp?.close());

    test('signs in and forwards the verified identity', async () => {
      await signIn(sessions, jar);
      const r = await sessions.authenticateRequest(request('/api/me', jar, { headers: { 'x-tessera-user': 'admin' } }));
      assert.equal(r.status, 'signed-in');
      assert.equal(r.identity.sub, 'alice');
      assert.equal(r.identity.alg, alg);
      const again = await sessions.authenticateRequest(request('/api/me', jar));
      assert.equal(again.identity, r.identity, 'a memo hit shares the identity object');
      assert.ok(Object.isFrozen(r.identity.claims), 'so it is frozen');
      assert.equal(r.forwardHeaders.get('x-tessera-user'), 'alice');
      const forwarded = sessions.forwardRequest(request('/api/me', jar, { headers: { 'x-tessera-user': 'admin', cookie: `${jar.header()}; theme=dark` } }), r);
      assert.equal(forwarded.headers.get('x-tessera-user'), 'alice', 'the spoofed header is replaced');
      assert.equal(forwarded.headers.get('cookie'), 'theme=dark', "Tessera's cookies are not passed on");

      // The origin checks the signature the engine made (in WebAssembly) with
      // the package's own check: valid for this request only.
      const signed = await sessions.authenticateRequest(request('/api/me?page=2', jar, { method: 'GET' }));
      const check = { secret: FORWARD_SECRET, method: 'GET', origin: APP, target: '/api/me?page=2' };
      const ok = await verifyForwardedIdentity(signed.forwardHeaders, check);
      assert.deepEqual([ok.valid, ok.user], [true, 'alice'], JSON.stringify(ok));
      for (const other of [{ target: '/api/admin' }, { method: 'DELETE' }, { origin: 'https://other.example' }, { secret: `${FORWARD_SECRET}!` }]) {
        const r = await verifyForwardedIdentity(signed.forwardHeaders, { ...check, ...other });
        assert.deepEqual([r.valid, r.reason], [false, 'claim-invalid'], JSON.stringify(other));
      }
      const tampered = new Headers(signed.forwardHeaders);
      tampered.set('x-tessera-user', 'admin');
      assert.equal((await verifyForwardedIdentity(tampered, check)).valid, false);
      const late = await verifyForwardedIdentity(signed.forwardHeaders, { ...check, now: Math.floor(Date.now() / 1000) + 120 });
      assert.equal(late.reason, 'token-expired');
    });

    test('an origin server verifies the token locally; tampering is refused', async () => {
      const token = await accessToken(sessions, jar);
      const ok = await verifier.verify(token);
      assert.equal(ok.valid, true, JSON.stringify(ok));
      assert.equal(ok.claims.sub, 'alice');
      assert.deepEqual(ok.identity.aud, [API]);
      // A repeat is a memo hit: the same identity, shared, so frozen all the way down.
      const again = await verifier.verify(token);
      assert.equal(again.identity, ok.identity);
      assert.ok(Object.isFrozen(ok.identity) && Object.isFrozen(ok.identity.aud) && Object.isFrozen(ok.claims));
      assert.throws(() => { ok.identity.aud.push('https://evil.test'); }, TypeError);
      assert.deepEqual((await verifier.verify(token)).identity.aud, [API]);
      const [h, p, s] = token.split('.');
      const flipped = `${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
      assert.deepEqual(await verifier.verify(`${h}.${p}.${flipped}`).then((r) => [r.valid, r.reason]), [false, 'signature-invalid']);
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
      assert.deepEqual(await verifier.verify(`${h}.${forged}.${s}`).then((r) => [r.valid, r.reason]), [false, 'signature-invalid']);
      const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
      const refused = await verifier.verify(`${none}.${p}.`);
      assert.equal(refused.valid, false);
      assert.equal(refused.retryable, false);
      assert.ok(refused.reason in REASONS);
      assert.equal(verifier.pendingCount, 0);
    });

    test('twenty concurrent requests with an expired session: one refresh reaches the provider', async () => {
      const token = await accessToken(sessions, jar);
      const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp;
      await sleep(Math.max(0, exp + 1 - Date.now() / 1000) * 1000);
      const before = idp.counts.refresh;
      const results = await Promise.all(Array.from({ length: 20 }, () => sessions.authenticateRequest(request('/api/me', jar))));
      assert.equal(idp.counts.refresh - before, 1);
      assert.deepEqual(new Set(results.map((r) => r.identity?.sub)), new Set(['alice']));
      assert.ok(results.some((r) => r.status === 'refreshed'));
      jar.apply(results[19].headers);
      const next = await sessions.authenticateRequest(request('/api/me', jar));
      assert.equal(next.status, 'signed-in', 'the rotated refresh token and new session work');
      assert.equal(idp.counts.refreshRefused, 0);
      assert.equal(sessions.pendingCount, 0);
    });
  });
}

describe('keys, outages and persistence (ES256)', { timeout: 120_000 }, () => {
  let idp;
  let sessions;
  const jar = new Jar();
  const config = () => ({ issuer: idp.issuer, verification: { audience: API, algorithms: ['ES256'] } });

  before(async () => {
    idp = await startIdp({ alg: 'ES256', redirectOrigin: APP, accessTokenTtl: 60 });
    sessions = await createTessera({
      ...config(), clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, appOrigin: APP, cookieKeys: COOKIE_KEYS,
      cookies: { prefix: 'tessera', secure: false }, resources: [API], authorizationParams: { prompt: 'consent' },
    });
    await signIn(sessions, jar);
  });
  after(() => idp?.close());

  test('the key set is persisted and restored through the jwksCache hook', async () => {
    const token = await accessToken(sessions, jar);
    const store = new Map();
    const hook = { get: (k) => store.get(k), set: (k, v) => { store.set(k, v); } };
    const first = await createTessera(config(), { jwksCache: hook });
    assert.equal((await first.verify(token)).valid, true);
    await sleep(10);
    assert.equal(store.size, 1, 'saved after the fetch');
    const fetches = idp.counts.jwks + idp.counts.discovery;
    const cold = await createTessera(config(), { jwksCache: hook });
    assert.equal((await cold.verify(token)).valid, true);
    assert.equal(idp.counts.jwks + idp.counts.discovery, fetches, 'a new instance verifies without fetching');
  });

  test('a rotated provider key is fetched once and verifies', async () => {
    const verifier = await createTessera(config());
    assert.equal((await verifier.verify(await accessToken(sessions, jar))).valid, true);
    const kid = await idp.rotateKeys();
    const fresh = new Jar();
    await signIn(sessions, fresh, 'bob');
    const token = await accessToken(sessions, fresh);
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid, kid);
    const jwks = idp.counts.jwks;
    const results = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    assert.ok(results.every((r) => r.valid && r.claims.sub === 'bob'), JSON.stringify(results.map((r) => r.reason ?? 'ok')));
    assert.equal(idp.counts.jwks - jwks, 1, 'one refetch for ten concurrent verifications');
  });

  test('provider down: known keys keep working; a cold instance says retryable', async () => {
    const token = await accessToken(sessions, jar);
    const warm = await createTessera(config());
    assert.equal((await warm.verify(token)).valid, true);
    await idp.stop();
    try {
      assert.equal((await warm.verify(token)).valid, true);
      const cold = await createTessera(config());
      const r = await cold.verify(token);
      assert.equal(r.valid, false);
      assert.equal(r.retryable, true, `${r.reason}: ${r.message}`);
      assert.equal(REASONS[r.reason][0], 503);
    } finally {
      await idp.start();
    }
  });
});

describe('the API surface', () => {
  test('configuration errors name the field', async () => {
    await assert.rejects(createTessera({ issuer: 'http://auth.example.com' }), (e) => e instanceof TesseraConfigError && e.field === 'issuer');
    await assert.rejects(createTessera({ issuer: 'https://auth.example.com', verificaton: {} }), (e) => e instanceof TesseraConfigError && e.field === 'verificaton' && /^tessera config: verificaton: unknown field `verificaton` \(a typo\?\); the fields here are afterSignOutPath, /.test(e.message));
    // A wrong type is named by its path (serde's own message said only what was wrong).
    await assert.rejects(
      createTessera({ issuer: 'https://auth.example.com', verification: { leeway: '5' } }),
      (e) => e instanceof TesseraConfigError && e.field === 'verification.leeway' && e.message === 'tessera config: verification.leeway: must be a non-negative integer, not a string',
    );
    await assert.rejects(
      createTessera({ issuer: 'https://auth.example.com', routes: [{ pattern: '/api/**', access: 'private' }] }),
      (e) => e instanceof TesseraConfigError && e.field === 'routes[0].access' && /expected one of public, page, api/.test(e.message),
    );
    await assert.rejects(createTessera({ issuer: 'https://auth.example.com', cookieKeys: COOKIE_KEYS }), (e) => e.field === 'clientId');
  });

  test('the aliases and nulls the TesseraConfig type allows are what the core accepts', async () => {
    const t = await createTessera({
      issuer: 'https://auth.example.com',
      clientAuth: null,
      verification: { issuer: 'https://auth.example.com', audiences: ['api'], authorizedParties: 'https://app.example.com', typ: null, maxTokenAge: null, forbiddenClaims: ['act'] },
      routes: [{ pattern: '/api/**', access: 'api', bearer: null }],
    }, { onWarning: () => {} });
    assert.deepEqual(t.warnings, []);
    await assert.rejects(
      createTessera({ issuer: 'https://auth.example.com', routes: [{ pattern: '/api/**', access: 'api' }] }),
      (e) => e instanceof TesseraConfigError && e.field === 'verification.audience',
    );
  });

  test('malformed tokens are refused without any fetch', async () => {
    let fetched = 0;
    const t = await createTessera({ issuer: 'https://auth.example.com' }, { fetch: async () => { fetched += 1; throw new Error('offline'); } });
    for (const bad of ['abc', 'a.b.c', 'x'.repeat(70_000), `${'e30'}.e30.`]) {
      const r = await t.verify(bad);
      assert.equal(r.valid, false);
      assert.equal(r.retryable, false, `${bad.slice(0, 20)}: ${r.reason}`);
    }
    assert.equal(fetched, 0);
  });

  test('a verification-only host needs only issuer and jwks_uri in discovery', async () => {
    const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'only', alg: 'ES256' };
    const server = http.createServer((req, res) => {
      const issuer = `http://127.0.0.1:${server.address().port}`;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/jwks` }));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${server.address().port}`;
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'only' })
        .setIssuer(issuer).setSubject('carol').setIssuedAt().setExpirationTime('1m').sign(privateKey);
      const r = await (await createTessera({ issuer })).verify(token);
      assert.deepEqual([r.valid, r.claims?.sub], [true, 'carol'], JSON.stringify(r));
      const sessions = await createTessera({ issuer, clientId: CLIENT_ID, appOrigin: APP, cookieKeys: COOKIE_KEYS, verification: { audience: API } });
      const refused = await sessions.authenticateRequest(request('/__tessera/sign-in'));
      assert.equal(refused.reason, 'auth-api-unavailable', 'sessions still need the authorization endpoint');
    } finally {
      server.close();
    }
  });

  test('the TesseraReason table matches the core', async () => {
    const { Core } = await import('../dist/wasm/tessera.js');
    assert.deepEqual(Object.entries(REASONS).map(([code, [status, retry]]) => [code, status, retry]), Core.reasonCodes());
  });
});
