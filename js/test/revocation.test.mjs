// Revocation through the npm package in an Express app over real HTTP, one
// process (the in-memory store): oidc-provider's back-channel logout after
// the user signs out at the provider's own end-session page, forged and
// replayed logout tokens, the app's revoke(), and a copy of signed-out
// cookies. The store shared by several processes: redis.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, importJWK } from 'jose';
import { startIdp, CLIENT_ID, CLIENT_SECRET, login, endSession } from '../../tests/e2e/idp.mjs';
import { Browser, COOKIE_KEYS, freePort, sleep } from '../../tests/e2e/stack.mjs';
import { startApp } from './fixtures/app.mjs';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const config = (issuer, origin) => ({
  issuer,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  appOrigin: origin,
  cookieKeys: COOKIE_KEYS,
  cookies: { prefix: 'tessera', secure: false },
  authorizationParams: { prompt: 'consent' },
  verification: { audience: 'https://api.tessera.test', algorithms: ['ES256'] },
  routes: [
    { pattern: '/stats', access: 'public' },
    { pattern: '/api/**', access: 'api' },
  ],
});

for (const bodyParser of [false, true]) {
  describe(`back-channel logout through Express${bodyParser ? ', behind a urlencoded body parser' : ''}`, { timeout: 120_000 }, () => {
    let idp;
    let app;
    let origin;

    before(async () => {
      const port = await freePort();
      origin = `http://127.0.0.1:${port}`;
      idp = await startIdp({ alg: 'ES256', redirectOrigin: origin, accessTokenTtl: 300, backchannelLogoutUri: `${origin}/__tessera/backchannel-logout` });
      app = await startApp({ config: config(idp.issuer, origin), port, bodyParser });
    });
    after(async () => {
      await app?.close();
      await idp?.close();
    });

    /** Signs in through the app; returns the browser and the provider's cookies. */
    async function signedIn(user = 'alice') {
      const browser = new Browser(origin);
      const providerJar = new Map();
      await browser.signIn('/api/me', user, (url, u) => login(url, u, providerJar));
      const me = await browser.fetch('/api/me');
      assert.equal(me.status, 200, `${me.headers.get('x-tessera-reason')}`);
      assert.equal((await me.json()).user, user);
      return { browser, providerJar };
    }

    test('signing out at the provider ends the session in the app at once', async () => {
      const { browser, providerJar } = await signedIn();
      const bystander = await signedIn('bob');
      const copy = browser.header();
      const before = idp.counts.backchannel;
      await endSession(idp.issuer, providerJar);
      assert.equal(idp.counts.backchannel - before, 1, 'the provider delivered its logout token, and the app answered 200');
      assert.equal(idp.counts.backchannelFailed, 0);
      const res = await browser.fetch('/api/me', { headers: { cookie: copy } });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-tessera-reason'), 'session-revoked');
      assert.match(res.headers.get('www-authenticate'), /invalid_token/);
      assert.ok(res.headers.getSetCookie().some((c) => /^tessera-session=;.*Max-Age=0/i.test(c)), 'the cookies are cleared');
      const page = await browser.fetch('/dashboard', { headers: { cookie: copy, 'sec-fetch-dest': 'document' } });
      assert.equal(page.status, 302, 'a page goes to sign-in');
      assert.equal((await bystander.browser.fetch('/api/me')).status, 200, 'another user goes on');
    });

    test('forged, replayed and malformed logout tokens are refused with 400', async () => {
      const { browser } = await signedIn();
      const post = (body) => fetch(`${origin}/__tessera/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const key = await importJWK(idp.signingKey, 'ES256');
      const now = Math.floor(Date.now() / 1000);
      const token = (claims, header = {}, signer = key) => new SignJWT({
        iss: idp.issuer, aud: CLIENT_ID, iat: now, exp: now + 120,
        events: { [EVENT]: {} }, sid: 'no-such-session', jti: crypto.randomUUID(), ...claims,
      })
        .setProtectedHeader({ alg: 'ES256', kid: idp.signingKey.kid, typ: 'logout+jwt', ...header })
        .sign(signer);
      const { privateKey: stranger } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
      const cases = [
        ['signed by another key', await token({}, {}, stranger), 'signature-invalid'],
        ['an ID token (nonce)', await token({ nonce: 'n' }), 'typ-invalid'],
        ['another audience', await token({ aud: 'someone-else' }), 'audience-invalid'],
        ['no event', await token({ events: {} }), 'claim-invalid'],
      ];
      for (const [name, t, reason] of cases) {
        const res = await post(new URLSearchParams({ logout_token: t }));
        assert.equal(res.status, 400, name);
        assert.equal(res.headers.get('x-tessera-reason'), reason, name);
        assert.equal((await res.json()).error, 'invalid_request', name);
      }
      const valid = await token({});
      assert.equal((await post(new URLSearchParams({ logout_token: valid }))).status, 200, 'a valid token for an unknown sid');
      const replay = await post(new URLSearchParams({ logout_token: valid }));
      assert.equal(replay.status, 400, 'replayed');
      assert.equal((await post('logout_token=' + 'a'.repeat(20_000))).headers.get('x-tessera-reason'), 'token-too-large');
      assert.equal((await fetch(`${origin}/__tessera/backchannel-logout`)).status, 405);
      assert.equal((await browser.fetch('/api/me')).status, 200, 'nothing of this signed anyone out');
    });

    test('the app revokes a user: every session of theirs ends, others go on', async () => {
      const { browser } = await signedIn('carol');
      const second = await signedIn('carol');
      const other = await signedIn('dave');
      const res = await browser.fetch('/api/sign-out-everywhere', { method: 'POST', headers: { origin } });
      assert.equal(res.status, 200);
      for (const b of [browser, second.browser]) {
        const r = await b.fetch('/api/me');
        assert.equal(r.headers.get('x-tessera-reason'), 'session-revoked');
      }
      assert.equal((await other.browser.fetch('/api/me')).status, 200);
      // Signing in again starts a session the revocation does not cover (one
      // that began in the revocation's own second counts as before it).
      await sleep(1100);
      const again = await signedIn('carol');
      assert.equal((await again.browser.fetch('/api/me')).status, 200);
    });
  });
}

describe('revoke() as an API', { timeout: 30_000 }, () => {
  test('refuses what it cannot name, without a store to publish to', async () => {
    const idp = await startIdp({ alg: 'ES256', redirectOrigin: 'http://127.0.0.1:1' });
    const { createTessera } = await import('tessera-edge');
    const tessera = await createTessera(config(idp.issuer, 'http://127.0.0.1:1'));
    await assert.rejects(tessera.revoke({ sub: '' }), /revoke needs a sub/);
    await assert.rejects(tessera.revoke({ nope: 'x' }), /revoke takes/);
    await tessera.revoke({ sid: 'op-session' });
    assert.deepEqual({ ...tessera.storeStats }, { hit: 0, miss: 0, revoked: 0, storeError: 0, revocationsLoaded: true, revocations: 1, revocationsDropped: 0 });
    await idp.close();
  });
});
