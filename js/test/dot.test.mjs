// tessera-edge in a real Express app against a second, independent OpenID
// Provider: django-oauth-toolkit (tests/e2e/dot.mjs), signed in through
// Django's own login form. ID-token sessions with its opaque access tokens:
// sign-in, refresh past expiry (three tabs at once), sign-out revoking at the
// endpoint its RFC 8414 metadata names; and an API gateway admitting its
// opaque tokens through the introspection endpoint found the same way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createTessera } from 'tessera-edge';
import { tesseraMiddleware } from 'tessera-edge/express';
import { Browser, COOKIE_KEYS, freePort, sleep } from '../../tests/e2e/stack.mjs';
import { startDot, dotLogin, DOT_CLIENT_ID, DOT_CLIENT_SECRET } from '../../tests/e2e/dot.mjs';

const TTL = 4;
const status = (res) => [res.status, res.headers.get('x-tessera-status'), res.headers.get('x-tessera-reason')];

describe('tessera-edge in an Express app with django-oauth-toolkit', { timeout: 180_000 }, () => {
  let dot;
  let server;
  let origin;
  let gateway;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    dot = await startDot({ redirectOrigin: origin, accessTokenTtl: TTL });
    const tessera = createTessera({
      issuer: dot.issuer,
      clientId: DOT_CLIENT_ID,
      clientSecret: DOT_CLIENT_SECRET,
      appOrigin: origin,
      cookieKeys: COOKIE_KEYS,
      cookies: { prefix: 'tessera', secure: false },
      scopes: ['openid', 'profile', 'email'],
      session: { identity: 'id-token', passAccessToken: true },
      verification: { algorithms: ['RS256'], leeway: 0 },
      refreshAhead: 1,
      routes: [{ pattern: '/', access: 'public' }, { pattern: '/api/**', access: 'api', bearer: false }],
    });
    const app = express();
    app.use(tesseraMiddleware(tessera));
    app.get('/api/me', (req, res) => res.json({ user: req.auth?.identity?.sub ?? null, authorization: req.headers.authorization ?? null }));
    server = app.listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    gateway = await createTessera({
      issuer: dot.issuer,
      clientId: DOT_CLIENT_ID,
      clientSecret: DOT_CLIENT_SECRET,
      verification: { authorizedParties: [DOT_CLIENT_ID], algorithms: ['RS256'] },
      // django-oauth-toolkit's answers name the user by username only.
      introspection: { maxAge: 1, subject: 'username' },
      routes: [{ pattern: '/api/**', access: 'api' }],
    });
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    await dot?.close();
  });

  test('sign-in, refresh for three tabs at once, the access token at introspection, sign-out', async () => {
    const b = new Browser(origin);
    await b.signIn('/api/me', 'alice', dotLogin);
    const me = await b.fetch('/api/me');
    assert.deepEqual(status(me), [200, 'signed-in', null]);
    const body = await me.json();
    assert.match(body.user, /^\d+$/);
    const token = body.authorization.slice('Bearer '.length);

    // The gateway admits the opaque token through the introspection
    // endpoint that only the RFC 8414 metadata names.
    const asked = await gateway.authenticateRequest(new Request(`${origin}/api/items`, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(asked.status, 'signed-in', `${asked.reason}: ${asked.message}`);
    // Where providers disagree: django-oauth-toolkit's introspection answer
    // has no sub, only the username, while its ID tokens' sub is the user's
    // primary key. RFC 7662 allows both; the gateway says which member
    // names the user (introspection.subject), and without it the answer is
    // refused rather than a username passing for a sub.
    assert.equal(asked.identity.claims.sub, undefined);
    assert.equal(asked.identity.sub, 'alice');
    assert.equal(asked.identity.claims.client_id, DOT_CLIENT_ID);
    const strict = await createTessera({
      issuer: dot.issuer, clientId: DOT_CLIENT_ID, clientSecret: DOT_CLIENT_SECRET,
      verification: { authorizedParties: [DOT_CLIENT_ID], algorithms: ['RS256'] },
      introspection: { maxAge: 1 }, routes: [{ pattern: '/api/**', access: 'api' }],
    });
    const bySub = await strict.authenticateRequest(new Request(`${origin}/api/items`, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(bySub.reason, 'claim-missing');

    await sleep((TTL + 1) * 1000);
    const cookie = b.header();
    const tabs = await Promise.all([1, 2, 3].map(() => fetch(`${origin}/api/me`, { headers: { cookie }, redirect: 'manual' })));
    assert.deepEqual(tabs.map((r) => r.status), [200, 200, 200]);
    const refreshed = tabs.find((r) => r.headers.get('x-tessera-status') === 'refreshed');
    assert.ok(refreshed);
    b.apply(refreshed);

    // The old access token expired at django-oauth-toolkit: introspection says so.
    const expired = await gateway.authenticateRequest(new Request(`${origin}/api/items`, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(expired.response?.status, 401);
    assert.ok(['token-inactive', 'token-expired'].includes(expired.reason), expired.reason);

    const out = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.deepEqual(status(await b.fetch('/api/me')), [401, 'signed-out', 'token-missing']);
  });
});
