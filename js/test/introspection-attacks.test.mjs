// Against the real oidc-provider (opaque tokens, introspection on): a
// gateway bound to the client (authorizedParties) and requiring token_type
// Bearer admits the access token and refuses the refresh token, which
// oidc-provider also finds under the access_token hint; one that names an
// audience refuses both (oidc-provider's answers name none without resource
// indicators). From the security review of introspection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTessera } from 'tessera-edge';
import { startIdp, CLIENT_ID, CLIENT_SECRET } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS } from '../../tests/e2e/stack.mjs';
import { APP, Jar, request, signIn } from './helpers.mjs';

describe('introspection attacks against oidc-provider', { timeout: 60_000 }, () => {
  let idp;
  let sessions;
  const issued = [];
  const gateway = (verification, introspection = {}) => createTessera({
    issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
    verification: { algorithms: ['ES256'], ...verification },
    introspection: { maxAge: 1, inactiveMaxAge: 1, ...introspection },
    routes: [{ pattern: '/api/**', access: 'api' }],
  });
  const call = (g, token) => g.authenticateRequest(request('/api/items', null, { headers: { authorization: `Bearer ${token}` } }));

  before(async () => {
    idp = await startIdp({ alg: 'ES256', redirectOrigin: APP, accessTokenTtl: 300, opaque: true });
    const noting = async (url, init) => {
      const r = await fetch(url, init);
      if (/\/token$/.test(String(url))) issued.push(await r.clone().json());
      return r;
    };
    sessions = await createTessera({
      issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, appOrigin: APP, cookieKeys: COOKIE_KEYS,
      cookies: { prefix: 'tessera', secure: false }, authorizationParams: { prompt: 'consent' },
      session: { identity: 'id-token', passAccessToken: true }, verification: { algorithms: ['ES256'] },
      routes: [{ pattern: '/api/**', access: 'api', bearer: false }],
    }, { fetch: noting });
  });
  after(() => idp?.close());

  test('bound to the client with token_type Bearer: the access token passes, the refresh token does not', async () => {
    await signIn(sessions, new Jar());
    const { access_token: access, refresh_token: refresh } = issued.at(-1);
    const bound = await gateway({ authorizedParties: [CLIENT_ID] }, { tokenTypes: ['Bearer'] });
    assert.equal((await call(bound, access)).status, 'signed-in');
    const r = await call(bound, refresh);
    assert.equal(r.reason, 'typ-invalid', `${r.status} ${r.message}`);
    const other = await gateway({ authorizedParties: ['another-client'] }, { tokenTypes: ['Bearer'] });
    assert.equal((await call(other, access)).reason, 'azp-invalid');
    const api = await gateway({ audience: 'https://api.example' });
    assert.equal((await call(api, access)).reason, 'audience-invalid');
    assert.equal((await call(api, refresh)).reason, 'audience-invalid');
  });
});
