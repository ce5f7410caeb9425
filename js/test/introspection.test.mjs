// Opaque bearer tokens through oidc-provider's introspection endpoint (RFC
// 7662), with the npm package as an API gateway: the token (a real opaque
// access token from a sign-in) is admitted, ten concurrent requests make one
// call, a token revoked at the provider is refused once the cached answer's
// maxAge has passed, and a provider that is down is an outage (503), not a
// refusal of the token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTessera } from 'tessera-edge';
import { startIdp, CLIENT_ID, CLIENT_SECRET } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS, sleep } from '../../tests/e2e/stack.mjs';
import { APP, Jar, request, signIn } from './helpers.mjs';

describe('opaque bearer tokens through oidc-provider\'s introspection endpoint', { timeout: 120_000 }, () => {
  let idp;
  let sessions;
  let gateway;

  /** A fresh opaque access token of alice's, from a real sign-in. */
  async function opaqueToken() {
    const jar = new Jar();
    await signIn(sessions, jar);
    const r = await sessions.authenticateRequest(request('/api/me', jar));
    return r.forwardHeaders.get('authorization').slice('Bearer '.length);
  }
  const call = (token) => gateway.authenticateRequest(request('/api/items', null, { headers: { authorization: `Bearer ${token}` } }));

  before(async () => {
    idp = await startIdp({ alg: 'ES256', redirectOrigin: APP, accessTokenTtl: 300, opaque: true });
    sessions = await createTessera({
      issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, appOrigin: APP, cookieKeys: COOKIE_KEYS,
      cookies: { prefix: 'tessera', secure: false }, authorizationParams: { prompt: 'consent' },
      session: { identity: 'id-token', passAccessToken: true }, verification: { algorithms: ['ES256'] },
      routes: [{ pattern: '/api/**', access: 'api', bearer: false }],
    });
    gateway = await createTessera({
      issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
      verification: { authorizedParties: [CLIENT_ID], algorithms: ['ES256'] },
      introspection: { maxAge: 1, inactiveMaxAge: 1, tokenTypes: ['Bearer'] },
      routes: [{ pattern: '/api/**', access: 'api' }],
    });
  });
  after(() => idp?.close());

  test('an active token is admitted as its subject; ten concurrent requests make one call', async () => {
    const token = await opaqueToken();
    assert.doesNotMatch(token, /\./, 'an opaque token');
    const before = idp.counts.introspections;
    const all = await Promise.all(Array.from({ length: 10 }, () => call(token)));
    for (const r of all) {
      assert.equal(r.status, 'signed-in', `${r.reason}: ${r.message}`);
      assert.equal(r.identity.sub, 'alice');
      assert.equal(r.identity.alg, null);
      assert.equal(r.forwardHeaders.get('authorization'), `Bearer ${token}`);
    }
    assert.equal(idp.counts.introspections - before, 1);
    assert.equal((await call(token)).event.memoHit, true);
  });

  test('a token revoked at the provider is refused once the cached answer is past maxAge', async () => {
    const token = await opaqueToken();
    assert.equal((await call(token)).status, 'signed-in');
    const revoked = await fetch(`${idp.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    assert.equal(revoked.status, 200);
    await sleep(1_100);
    const r = await call(token);
    assert.equal(r.response?.status, 401);
    assert.equal(r.reason, 'token-inactive');
    assert.match(r.response.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
  });

  test('a provider that is down is an outage, not a refusal', async () => {
    const token = await opaqueToken();
    await idp.stop();
    try {
      const r = await call(token);
      assert.equal(r.response?.status, 503);
      assert.equal(r.reason, 'auth-api-unavailable');
      assert.equal(r.retryable, true);
    } finally {
      await idp.start();
    }
    assert.equal((await call(token)).status, 'signed-in', 'and it recovers');
  });
});
