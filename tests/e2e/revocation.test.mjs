// Revocation in workerd: the worker with its RevocationStore Durable Object
// (TESSERA_STORE) against oidc-provider with back-channel logout. Signing out
// at the provider's own end-session page ends the session in the worker; a
// new isolate (workerd restarted) reads the revocation from the object; the
// revoke endpoint with its secret; forged and replayed logout tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, importJWK } from 'jose';
import { CLIENT_ID, endSession, login } from './idp.mjs';
import { Browser, startStack } from './stack.mjs';

const REVOKE_SECRET = 'cmV2b2tlLXNlY3JldC1vZi1hdC1sZWFzdC0zMi1ieXRlcw==';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

describe('revocation in workerd (RevocationStore Durable Object)', { timeout: 120_000 }, () => {
  let stack;

  before(async () => {
    stack = await startStack({ accessTokenTtl: 300, backchannel: true, bindings: { TESSERA_REVOKE_SECRET: REVOKE_SECRET } });
  });
  after(() => stack?.close());

  async function signedIn(user = 'alice') {
    const browser = new Browser(stack.app);
    const providerJar = new Map();
    await browser.signIn('/api/me', user, (url, u) => login(url, u, providerJar));
    assert.equal((await browser.fetch('/api/me')).status, 200);
    return { browser, providerJar };
  }

  test('signing out at the provider ends the session, in this isolate and the next', async () => {
    const { browser, providerJar } = await signedIn();
    const copy = browser.header();
    const before = stack.idp.counts.backchannel;
    await endSession(stack.idp.issuer, providerJar);
    assert.equal(stack.idp.counts.backchannel - before, 1, 'the worker answered the logout token with 200');
    const res = await browser.fetch('/api/me', { headers: { cookie: copy } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-tessera-reason'), 'session-revoked');
    await stack.restartWorker();
    const fresh = await browser.fetch('/api/me', { headers: { cookie: copy } });
    assert.equal(fresh.headers.get('x-tessera-reason'), 'session-revoked', 'a new isolate read it from the store');
  });

  test('the revoke endpoint ends a user\'s sessions everywhere, with its secret only', async () => {
    const { browser } = await signedIn('bob');
    const post = (auth, body) => fetch(`${stack.app}/__tessera/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: JSON.stringify(body),
    });
    assert.equal((await post(undefined, { sub: 'bob' })).status, 401);
    assert.equal((await post('not-the-secret', { sub: 'bob' })).status, 401);
    assert.equal((await browser.fetch('/api/me')).status, 200);
    const copy = browser.header();
    const ok = await post(REVOKE_SECRET, { sub: 'bob' });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).revoked.value, 'bob');
    assert.equal((await browser.fetch('/api/me', { headers: { cookie: copy } })).headers.get('x-tessera-reason'), 'session-revoked');
    await stack.restartWorker();
    assert.equal((await browser.fetch('/api/me', { headers: { cookie: copy } })).headers.get('x-tessera-reason'), 'session-revoked');
  });

  test('forged and replayed logout tokens get 400', async () => {
    const { browser } = await signedIn('carol');
    const key = await importJWK(stack.idp.signingKey, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const token = (claims = {}) => new SignJWT({
      iss: stack.idp.issuer, aud: CLIENT_ID, iat: now - 600, exp: now + 600,
      events: { [EVENT]: {} }, sub: 'carol', jti: crypto.randomUUID(), ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', kid: stack.idp.signingKey.kid, typ: 'logout+jwt' })
      .sign(key);
    const post = (t) => fetch(`${stack.app}/__tessera/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: t }),
    });
    const old = await post(await token());
    assert.equal(old.status, 400);
    assert.equal(old.headers.get('x-tessera-reason'), 'token-too-old', 'a replay of an old token');
    const nonce = await post(await token({ nonce: 'n' }));
    assert.equal(nonce.headers.get('x-tessera-reason'), 'typ-invalid');
    assert.equal((await browser.fetch('/api/me')).status, 200, 'nothing was revoked');
  });
});
