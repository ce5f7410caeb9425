// The worker in workerd against a second, independent OpenID Provider:
// django-oauth-toolkit (opaque access tokens, RS256 ID tokens, rotating
// refresh tokens, revocation listed only in its RFC 8414 metadata), signed
// in through Django's own login form. ID-token sessions; sign-in, refresh
// past expiry for concurrent requests, sign-out revoking the grant.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, Browser, sleep } from './stack.mjs';
import { startDot, dotLogin, DOT_CLIENT_ID, DOT_CLIENT_SECRET } from './dot.mjs';

const TTL = 4;
const status = (res) => [res.status, res.headers.get('x-tessera-status'), res.headers.get('x-tessera-reason')];

describe('the worker with django-oauth-toolkit', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({
      provider: (app) => startDot({ redirectOrigin: app, accessTokenTtl: TTL }),
      clientSecret: DOT_CLIENT_SECRET,
      config: {
        clientId: DOT_CLIENT_ID,
        resources: [],
        scopes: ['openid', 'profile', 'email'],
        authorizationParams: {},
        session: { identity: 'id-token' },
        verification: { algorithms: ['RS256'], leeway: 0 },
        routes: [{ pattern: '/', access: 'public' }, { pattern: '/api/**', access: 'api', bearer: false }],
      },
    });
  });
  after(async () => { await stack?.close(); });

  test('sign-in through Django\'s form, refresh past expiry for concurrent requests, sign-out revokes', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/home', 'alice', dotLogin);
    const page = await b.navigate('/home');
    assert.deepEqual(status(page), [200, 'signed-in', null]);
    const seen = (await page.json()).headers;
    assert.match(seen['x-tessera-user'], /^\d+$/, 'django-oauth-toolkit names users by their primary key');
    assert.equal(seen.authorization, undefined);
    const claims = JSON.parse(Buffer.from(seen['x-tessera-claims'], 'base64url'));
    assert.equal(claims.iss, stack.idp.issuer);
    assert.equal(claims.aud, DOT_CLIENT_ID);

    await sleep((TTL + 1) * 1000);
    const cookie = b.header();
    const all = await Promise.all(Array.from({ length: 5 }, () =>
      fetch(`${stack.app}/api/x`, { headers: { cookie }, redirect: 'manual' })));
    assert.deepEqual(all.map((r) => r.status), Array(5).fill(200), (await Promise.all(all.map((r) => r.clone().text()))).join('\n'));
    const refreshed = all.find((r) => r.headers.get('x-tessera-status') === 'refreshed');
    assert.ok(refreshed, 'one of them refreshed');
    b.apply(refreshed);
    const copy = new Map(b.cookies);

    // Again from the rotated refresh token.
    await sleep((TTL + 1) * 1000);
    const again = await b.fetch('/api/x');
    assert.deepEqual(status(again), [200, 'refreshed', null]);

    const out = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.deepEqual(status(await b.fetch('/api/x')), [401, 'signed-out', 'token-missing']);
    // An old copy of the cookies is refused: the sign-out is revoked in the
    // store (and the grant at the endpoint the RFC 8414 metadata names).
    const stale = new Browser(stack.app);
    stale.cookies = copy;
    await sleep((TTL + 1) * 1000);
    const replay = await stale.fetch('/api/x');
    assert.equal(replay.status, 401, await replay.clone().text());
    assert.equal(replay.headers.get('x-tessera-reason'), 'session-revoked');
  });
});
