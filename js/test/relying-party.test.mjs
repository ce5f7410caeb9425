// Rows of the OpenID relying-party test plan (tests/relying_party.rs runs the
// whole table through the engine natively and in wasmtime) end to end through
// the npm package: a real provider (oidc-provider) for sign-in and refresh,
// and a tampering back channel, the package's injectable `fetch`, that
// rewrites what the token endpoint answered: forged with the provider's own
// signing key where a row needs a hostile provider, broken where it needs a
// broken one. The browser side is the provider's own login pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { createTessera } from 'tessera-edge';
import { startIdp, login, CLIENT_ID, CLIENT_SECRET, API } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS, sleep } from '../../tests/e2e/stack.mjs';
import { APP, Jar, request } from './helpers.mjs';

/** Access tokens live 2 s: the refresh rows wait for them to expire. */
const TTL = 2;

describe('the RP test plan through tessera-edge against oidc-provider and a tampering back channel', { timeout: 120_000 }, () => {
  let idp;
  let tessera;
  /** `(json) => json | string`: rewrites the next token endpoint answer (once). */
  let tamper = null;

  before(async () => {
    idp = await startIdp({ alg: 'ES256', redirectOrigin: APP, accessTokenTtl: TTL });
    const tampering = async (url, init) => {
      const res = await fetch(url, init);
      if (!tamper || new URL(url).pathname !== '/token' || res.status !== 200) return res;
      const rewrite = tamper;
      tamper = null;
      const out = await rewrite(await res.json());
      return new Response(typeof out === 'string' ? out : JSON.stringify(out), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    tessera = await createTessera({
      issuer: idp.issuer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      appOrigin: APP,
      cookieKeys: COOKIE_KEYS,
      cookies: { prefix: 'tessera', secure: false },
      resources: [API],
      authorizationParams: { prompt: 'consent' },
      verification: { audience: API, algorithms: ['ES256'], leeway: 0 },
      refreshAhead: 1,
      routes: [{ pattern: '/api/**', access: 'api' }],
    }, { fetch: tampering });
  });
  after(() => idp?.close());

  /** The provider's own key signs `token`'s claims with `changes` merged in (a hostile provider). */
  const forge = async (token, changes) => {
    const key = await importJWK(idp.signingKey, 'ES256');
    return new SignJWT({ ...decodeJwt(token), ...changes }).setProtectedHeader(decodeProtectedHeader(token)).sign(key);
  };
  const flip = (token) => {
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[3] ^= 1;
    return `${h}.${p}.${sig.toString('base64url')}`;
  };

  /** Sign-in up to the callback URL the provider redirected to; the jar holds the transaction. */
  const toCallback = async (jar) => {
    const start = await tessera.authenticateRequest(request('/__tessera/sign-in?redirect_url=%2Fapi%2Fme', jar));
    jar.apply(start.headers);
    return new URL(await login(start.response.headers.get('location')));
  };
  const callback = async (jar, url) => {
    const r = await tessera.authenticateRequest(request(url.pathname + url.search, jar));
    jar.apply(r.headers);
    return r;
  };
  const signedIn = async () => {
    const jar = new Jar();
    const done = await callback(jar, await toCallback(jar));
    assert.equal(done.response?.status, 303, `${done.reason}: ${done.message}`);
    return jar;
  };

  const signInRows = [
    ['rp-id_token-sig-none', (t) => ({ ...t, id_token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${t.id_token.split('.')[1]}.` }), 400, 'alg-not-allowed'],
    ['rp-id_token-bad-sig-es256', (t) => ({ ...t, id_token: flip(t.id_token) }), 400, 'signature-invalid'],
    ['rp-nonce-invalid (forged by the provider\'s key)', async (t) => ({ ...t, id_token: await forge(t.id_token, { nonce: 'another' }) }), 400, 'nonce-mismatch'],
    ['rp-id_token-aud (forged)', async (t) => ({ ...t, id_token: await forge(t.id_token, { aud: 'another-client' }) }), 400, 'audience-invalid'],
    ['rp-id_token-iat (forged without)', async (t) => ({ ...t, id_token: await forge(t.id_token, { iat: undefined }) }), 400, 'claim-missing'],
    ['a token response that is not JSON', () => '<html>', 502, 'auth-api-invalid'],
    ['the app\'s ID token returned as the access token', (t) => ({ ...t, access_token: t.id_token }), 400, 'audience-invalid'],
  ];
  for (const [id, rewrite, status, reason] of signInRows) {
    test(`sign-in: ${id}`, async () => {
      const jar = new Jar();
      const url = await toCallback(jar);
      tamper = rewrite;
      const r = await callback(jar, url);
      assert.deepEqual([r.response?.status, r.reason], [status, reason], r.message ?? '');
      assert.ok(!jar.cookies.has('tessera-session'), 'no session');
    });
  }

  test('RFC 9207: the provider promises iss; a callback without it is refused', async () => {
    const metadata = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    const jar = new Jar();
    const url = await toCallback(jar);
    assert.equal(url.searchParams.get('iss'), idp.issuer);
    url.searchParams.delete('iss');
    const r = await callback(jar, url);
    assert.deepEqual([r.response?.status, r.reason], [400, 'issuer-invalid']);
  });

  const refreshRows = [
    ['12.2: the refreshed ID token as issued', (t) => t, 200, null],
    ['12.2: a refreshed ID token for another sub (forged by the provider\'s key)', async (t) => ({ ...t, id_token: await forge(t.id_token, { sub: 'mallory' }) }), 401, 'claim-invalid'],
    ['12.2: a refreshed ID token with a broken signature', (t) => ({ ...t, id_token: flip(t.id_token) }), 401, 'signature-invalid'],
    ['12.2: another nonce (forged)', async (t) => ({ ...t, id_token: await forge(t.id_token, { nonce: 'another' }) }), 401, 'claim-invalid'],
    ['12.2: another iss (forged)', async (t) => ({ ...t, id_token: await forge(t.id_token, { iss: 'https://evil.example' }) }), 401, 'issuer-invalid'],
    ['a refreshed access token for another sub (forged)', async (t) => ({ ...t, access_token: await forge(t.access_token, { sub: 'mallory' }) }), 401, 'claim-invalid'],
    ['a refresh answer that is not JSON ends the session', () => '{', 401, 'refresh-token-invalid'],
  ];
  for (const [id, rewrite, status, reason] of refreshRows) {
    test(`refresh: ${id}`, async () => {
      const jar = await signedIn();
      await sleep((TTL + 1) * 1000);
      const revocations = idp.counts.revocations;
      let sawIdToken = false;
      tamper = async (t) => { sawIdToken = typeof t.id_token === 'string'; return rewrite(t); };
      const r = await tessera.authenticateRequest(request('/api/me', jar));
      assert.ok(sawIdToken, 'oidc-provider returns an ID token on refresh');
      assert.deepEqual([r.response?.status ?? 200, r.reason], [status, reason], r.message ?? '');
      jar.apply(r.headers);
      if (status === 200) {
        assert.equal(r.status, 'refreshed');
        assert.equal(r.identity.sub, 'alice');
      } else {
        assert.ok(!jar.cookies.has('tessera-session') && !jar.cookies.has('tessera-refresh'), 'the session ended');
        if (reason !== 'refresh-token-invalid') assert.equal(idp.counts.revocations, revocations + 1, 'what it received is revoked');
      }
    });
  }
});
