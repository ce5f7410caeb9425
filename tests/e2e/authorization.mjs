// Route requirements against real tokens from oidc-provider: the scenarios
// the worker in workerd (tests/e2e/authorization.test.mjs) and the npm
// package in an Express app (js/test/authorization.test.mjs) both pass.
// Users sign in through the app, with a scope the API offers and per-user
// roles; a client-credentials client gets machine tokens; a second
// oidc-provider instance is a trusted partner issuer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { API, MACHINE_ID, login, startIdp } from './idp.mjs';
import { Browser } from './stack.mjs';

/** Each user's roles, as the provider puts them in access tokens. */
const ROLES = { alice: ['admin'], bob: ['viewer'] };

/** What the provider needs: the API's scopes, the machine client, the roles. */
export const providerOptions = {
  accessTokenTtl: 300,
  apiScopes: ['orders:read', 'orders:write'],
  machineClient: true,
  dpop: true,
  // Everyone is a member of the demo organisation; its role counts as a role.
  accessTokenClaims: (token) => (token.accountId ? { roles: ROLES[token.accountId] ?? [], org_role: 'member' } : {}),
};

/** The configuration's part under test (merged over each runtime's own), trusting `partner`. */
export const requirementsConfig = (partner) => ({
  scopes: ['openid', 'offline_access', 'orders:read'],
  trustedIssuers: [{ issuer: partner, verification: { audience: API, algorithms: ['ES256'] } }],
  routes: [
    { pattern: '/api/orders/**', methods: ['GET'], access: 'api', require: { scopes: ['orders:read'] } },
    { pattern: '/api/orders/**', access: 'api', require: { scopes: ['orders:write'] } },
    { pattern: '/api/jobs/**', access: 'api', require: { kind: 'machine' } },
    { pattern: '/api/me/**', access: 'api', require: { kind: 'user' } },
    { pattern: '/api/partner/**', access: 'api', require: { issuers: [partner] } },
    { pattern: '/admin/**', access: 'page', require: { roles: ['admin'] } },
    { pattern: '/api/**', access: 'api' },
  ],
});

/** The partner: a second oidc-provider whose machine tokens the app trusts. */
export const startPartner = () => startIdp({ alg: 'ES256', redirectOrigin: 'http://127.0.0.1:9', accessTokenTtl: 300, machineClient: true });

/** A DPoP key pair, and its proofs (RFC 9449 §4), as a client library makes them. */
export async function dpopKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return async (htm, htu, token, claims = {}) => new SignJWT({
    htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000),
    ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}),
    ...claims,
  }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(privateKey);
}

/** What reached the origin: the echo answer's identity headers. */
async function seen(res) {
  assert.equal(res.status, 200, `${res.status} ${res.headers.get('x-tessera-reason')}`);
  const { headers } = await res.json();
  return {
    user: headers['x-tessera-user'],
    kind: headers['x-tessera-kind'],
    roles: headers['x-tessera-roles'] ?? null,
    token: headers.authorization?.replace(/^Bearer /, ''),
  };
}

/**
 * Registers the scenarios; `ctx()` returns `{ app, idp, partner }` once the
 * runtime and the providers run.
 */
export function requirementScenarios(ctx) {
  const browsers = {};
  const bearer = (path, token, init = {}) => fetch(`${ctx().app}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });
  const tokenOf = async (user) => (await seen(await browsers[user].fetch('/api/other'))).token;

  test('users sign in through the app', async () => {
    for (const user of ['alice', 'bob']) {
      browsers[user] = new Browser(ctx().app);
      await browsers[user].signIn('/api/other', user, (url, u) => login(url, u, new Map()));
    }
  });

  test('a page needs its role: a 403 page without it, never a sign-in', async () => {
    const ok = await seen(await browsers.alice.navigate('/admin/settings'));
    assert.deepEqual([ok.user, ok.kind, ok.roles], ['alice', 'user', 'admin,member']);
    const no = await browsers.bob.navigate('/admin/settings');
    assert.equal(no.status, 403);
    assert.equal(no.headers.get('location'), null);
    assert.equal(no.headers.get('x-tessera-reason'), 'insufficient-scope');
    assert.match(no.headers.get('content-type'), /^text\/html/);
    assert.match(await no.text(), /role &quot;admin&quot;/);
    assert.equal((await browsers.bob.fetch('/api/other')).status, 200, 'still signed in');
  });

  test('scopes: the granted one passes, a missing one gets insufficient_scope with the scope to ask for', async () => {
    const token = await tokenOf('alice');
    assert.equal((await bearer('/api/orders/7', token)).status, 200);
    const write = await bearer('/api/orders/7', token, { method: 'POST' });
    assert.equal(write.status, 403);
    assert.equal(
      write.headers.get('www-authenticate'),
      'Bearer error="insufficient_scope", error_description="this route requires the scope \'orders:write\'", scope="orders:write"',
    );
    assert.deepEqual(await write.json(), {
      error: 'insufficient-scope', requirement: 'scope', message: 'this route requires the scope "orders:write"',
    });
  });

  test('machine tokens from the client-credentials grant: kind machine, their own routes only', async () => {
    const machine = await ctx().idp.clientCredentials('orders:read');
    const jobs = await seen(await bearer('/api/jobs/run', machine));
    assert.deepEqual([jobs.user, jobs.kind, jobs.roles], [MACHINE_ID, 'machine', null]);
    const me = await bearer('/api/me/profile', machine);
    assert.equal(me.status, 403);
    assert.equal((await me.json()).requirement, 'kind');
    const user = await tokenOf('alice');
    const asUser = await bearer('/api/jobs/run', user);
    assert.equal(asUser.status, 403);
    assert.match(asUser.headers.get('www-authenticate'), /^Bearer error="insufficient_scope"/);
    assert.equal((await bearer('/api/me/profile', user)).status, 200);
  });

  test('a second issuer: its tokens verified with its own keys, on the routes that take them', async () => {
    const { partner, idp } = ctx();
    const token = await partner.clientCredentials();
    const ok = await seen(await bearer('/api/partner/x', token));
    assert.deepEqual([ok.user, ok.kind], [MACHINE_ID, 'machine']);
    assert.equal((await bearer('/api/other', token)).status, 200, 'routes without issuers take every trusted one');
    // The main issuer's machine token has the same subject, but not the partner's route.
    const main = await bearer('/api/partner/x', await idp.clientCredentials());
    assert.equal(main.status, 401);
    assert.equal(main.headers.get('x-tessera-reason'), 'issuer-invalid');
    // A token naming the partner but signed with the main issuer's key.
    const [, payload] = token.split('.');
    const [header, , signature] = (await idp.clientCredentials()).split('.');
    const spliced = await bearer('/api/partner/x', `${header}.${payload}.${signature}`);
    assert.equal(spliced.status, 401);
    assert.match(spliced.headers.get('x-tessera-reason'), /^(key-not-found|signature-invalid)$/);
  });

  test('an issuer nobody trusts is refused before any fetch', async () => {
    const stranger = await startPartner();
    try {
      const token = await stranger.clientCredentials();
      const res = await bearer('/api/other', token);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-tessera-reason'), 'issuer-invalid');
      assert.equal(stranger.counts.jwks + stranger.counts.discovery, 0, 'its keys were never asked for');
    } finally {
      await stranger.close();
    }
  });

  test('DPoP: a bound token passes with a fresh proof for the request, and in no other way', async () => {
    const { app, idp } = ctx();
    const proof = await dpopKey();
    const token = await idp.clientCredentials('orders:read', proof);
    const url = `${app}/api/jobs/run`;
    const dpop = (p, scheme = 'DPoP') => fetch(url, { headers: { authorization: `${scheme} ${token}`, ...(p ? { dpop: p } : {}) } });
    const first = await proof('GET', url, token);
    const ok = await dpop(first);
    assert.equal(ok.status, 200, `${ok.headers.get('x-tessera-reason')}`);
    const { headers } = await ok.json();
    assert.equal(headers.authorization, `DPoP ${token}`, 'it goes on as a DPoP token, with its proof');
    assert.equal(headers.dpop, first);
    assert.equal(headers['x-tessera-kind'], 'machine');

    const expect = async (res, reason, error) => {
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-tessera-reason'), reason);
      assert.match(res.headers.get('www-authenticate'), new RegExp(`^DPoP error="${error}".*algs="ES256 EdDSA RS256 PS256"$`));
    };
    await expect(await dpop(first), 'dpop-proof-replayed', 'invalid_dpop_proof');
    await expect(await dpop(await proof('GET', `${app}/api/other`, token)), 'dpop-proof-invalid', 'invalid_dpop_proof');
    await expect(await dpop(await proof('POST', url, token)), 'dpop-proof-invalid', 'invalid_dpop_proof');
    await expect(await dpop(await (await dpopKey())('GET', url, token)), 'dpop-proof-invalid', 'invalid_dpop_proof');
    await expect(await dpop(await proof('GET', url, token), 'Bearer'), 'dpop-required', 'invalid_token');
    await expect(await dpop(undefined, 'Bearer'), 'dpop-required', 'invalid_token');
    await expect(await dpop(undefined), 'dpop-proof-invalid', 'invalid_dpop_proof');
    // A fresh proof still passes after all that.
    assert.equal((await dpop(await proof('GET', url, token))).status, 200);
  });

  test('a route for another issuer refuses this issuer\'s bearer token as invalid there', async () => {
    const res = await bearer('/api/partner/x', await tokenOf('alice'));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-tessera-reason'), 'issuer-invalid');
    assert.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
    const session = await browsers.alice.fetch('/api/partner/x');
    assert.equal(session.status, 403, 'a session there: 403, never a sign-in');
    assert.deepEqual(session.headers.getSetCookie(), []);
  });

  test('headers a client sends cannot grant a role', async () => {
    const res = await browsers.bob.fetch('/admin/settings', { headers: { 'x-tessera-roles': 'admin', 'x-tessera-kind': 'machine' } });
    assert.equal(res.status, 403);
    const other = await seen(await browsers.bob.fetch('/api/other', { headers: { 'x-tessera-roles': 'admin' } }));
    assert.equal(other.roles, 'viewer,member');
  });
}


