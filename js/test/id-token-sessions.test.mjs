// ID-token sessions through the npm package against oidc-provider configured
// the second way: no resource indicators, so its access tokens are opaque
// (for its own userinfo endpoint), as Google's and GitHub's are. Sign-in,
// the identity from the ID token, refresh past the access token's expiry,
// three tabs at once, passing the access token on, sign-out; and an
// access-token configuration refusing the same provider's opaque tokens with
// the grant revoked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTessera } from 'tessera-edge';
import { startIdp, CLIENT_ID, CLIENT_SECRET, login } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS, sleep } from '../../tests/e2e/stack.mjs';
import { APP, Jar, request, signIn } from './helpers.mjs';

/** Access tokens (and ID tokens) live 2 s: refreshes happen within the test. */
const TTL = 2;

const config = (issuer, extra = {}) => ({
  issuer,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  appOrigin: APP,
  cookieKeys: COOKIE_KEYS,
  cookies: { prefix: 'tessera', secure: false },
  authorizationParams: { prompt: 'consent' },
  session: { identity: 'id-token' },
  refreshAhead: 1,
  verification: { algorithms: ['ES256'] },
  routes: [{ pattern: '/api/**', access: 'api', bearer: false }],
  ...extra,
});

describe('ID-token sessions with opaque access tokens (oidc-provider without resource indicators)', { timeout: 120_000 }, () => {
  let idp;
  let tessera;

  before(async () => {
    idp = await startIdp({ alg: 'ES256', redirectOrigin: APP, accessTokenTtl: TTL, opaque: true });
    tessera = await createTessera(config(idp.issuer));
  });
  after(() => idp?.close());

  test('sign-in gives the ID token\'s identity; the opaque token stays with Tessera', async () => {
    const jar = new Jar();
    await signIn(tessera, jar);
    const r = await tessera.authenticateRequest(request('/api/me', jar));
    assert.equal(r.status, 'signed-in', `${r.reason}: ${r.message}`);
    assert.equal(r.forwardHeaders.get('x-tessera-user'), 'alice');
    assert.equal(r.identity.iss, idp.issuer);
    assert.deepEqual(r.identity.aud, [CLIENT_ID], 'the ID token\'s audience: this client');
    assert.equal(r.forwardHeaders.get('authorization'), null, 'not passed on by default');
  });

  test('the session refreshes past the access token\'s expiry, once for three tabs at once', async () => {
    const jar = new Jar();
    await signIn(tessera, jar);
    await sleep((TTL + 1) * 1000);
    const before = idp.counts.refresh;
    const results = await Promise.all([1, 2, 3].map(() => tessera.authenticateRequest(request('/api/me', jar))));
    for (const r of results) {
      assert.ok(['refreshed', 'signed-in'].includes(r.status), `${r.status} ${r.reason}: ${r.message}`);
      assert.equal(r.forwardHeaders.get('x-tessera-user'), 'alice');
    }
    assert.equal(idp.counts.refresh - before, 1, 'one refresh at the provider');
    assert.equal(idp.counts.refreshRefused, 0, 'no rotated-out token spent again');
    for (const r of results) jar.apply(r.headers);
    // And again, from the rotated refresh token.
    await sleep((TTL + 1) * 1000);
    const again = await tessera.authenticateRequest(request('/api/me', jar));
    assert.equal(again.status, 'refreshed', `${again.reason}: ${again.message}`);
    assert.equal(idp.counts.refresh - before, 2);
  });

  test('passAccessToken hands the origin the provider\'s own (working) access token', async () => {
    const passing = await createTessera(config(idp.issuer, { session: { identity: 'id-token', passAccessToken: true } }));
    const jar = new Jar();
    await signIn(passing, jar);
    const r = await passing.authenticateRequest(request('/api/me', jar));
    const auth = r.forwardHeaders.get('authorization');
    assert.match(auth, /^Bearer [^.]+$/, 'an opaque token, not a JWT');
    // It is the provider's token: its userinfo endpoint answers to it.
    const me = await fetch(`${idp.issuer}/me`, { headers: { authorization: auth } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).sub, 'alice');
  });

  test('session.userinfo adds the provider\'s userinfo claims to the identity', async () => {
    const enriched = await createTessera(config(idp.issuer, { session: { identity: 'id-token', userinfo: true } }));
    const plain = new Jar();
    await signIn(tessera, plain);
    const without = await tessera.authenticateRequest(request('/api/me', plain));
    assert.equal(without.identity.claims.email, undefined, 'oidc-provider\'s ID token carries no email here');
    const jar = new Jar();
    await signIn(enriched, jar);
    const r = await enriched.authenticateRequest(request('/api/me', jar));
    assert.equal(r.status, 'signed-in', `${r.reason}: ${r.message}`);
    assert.equal(r.identity.claims.email, 'alice@example.test');
    assert.equal(r.identity.claims.name, 'alice');
    // And again at a refresh.
    await sleep((TTL + 1) * 1000);
    const again = await enriched.authenticateRequest(request('/api/me', jar));
    assert.equal(again.status, 'refreshed', `${again.reason}: ${again.message}`);
    assert.equal(again.identity.claims.email, 'alice@example.test');
  });

  test('sign-out revokes the grant; the copied cookies cannot refresh afterwards', async () => {
    const jar = new Jar();
    await signIn(tessera, jar);
    const copy = new Jar();
    copy.cookies = new Map(jar.cookies);
    const revocations = idp.counts.revocations;
    const out = await tessera.authenticateRequest(request('/__tessera/sign-out', jar, { method: 'POST' }));
    assert.equal(out.response?.status, 303, `${out.reason}: ${out.message}`);
    assert.equal(idp.counts.revocations - revocations, 1);
    await sleep((TTL + 1) * 1000);
    const r = await tessera.authenticateRequest(request('/api/me', copy));
    assert.equal(r.response?.status, 401);
    assert.equal(r.reason, 'session-revoked', 'this process holds the sign-out');
    // Another process without a shared store finds the grant revoked at the provider.
    const other = await createTessera(config(idp.issuer));
    const elsewhere = await other.authenticateRequest(request('/api/me', copy));
    assert.equal(elsewhere.reason, 'refresh-token-invalid');
  });

  test('an access-token configuration refuses the opaque token, says what to set, and revokes the grant', async () => {
    const strict = await createTessera(config(idp.issuer, { session: { identity: 'access-token' }, verification: { audience: 'https://api.example', algorithms: ['ES256'] } }));
    const jar = new Jar();
    const start = await strict.authenticateRequest(request('/__tessera/sign-in?redirect_url=%2Fapi%2Fme', jar));
    jar.apply(start.headers);
    const callback = await login(start.response.headers.get('location'), 'alice');
    const revocations = idp.counts.revocations;
    const done = await strict.authenticateRequest(request(new URL(callback).pathname + new URL(callback).search, jar));
    assert.equal(done.response?.status, 400);
    assert.equal(done.reason, 'token-malformed');
    assert.match(done.message, /session\.identity "id-token"/);
    assert.equal(idp.counts.revocations - revocations, 1, 'the consented grant is revoked');
  });
});
