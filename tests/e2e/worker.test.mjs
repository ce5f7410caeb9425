// The worker in workerd (miniflare) against a real OpenID Provider (oidc-provider)
// and an echoing origin, all on 127.0.0.1. Access tokens live 6 s, so expiry and
// refresh happen during the tests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { login } from './idp.mjs';
import { startStack, Browser, sleep } from './stack.mjs';
import { lenientOnlyTokens } from './ed25519.mjs';

const status = (res) => [res.status, res.headers.get('x-tessera-status'), res.headers.get('x-tessera-reason')];

/** Waits until the access token (6 s, no leeway; refreshAhead is 1 s, so a request within 5 s of sign-in is plainly signed in) has expired. */
const expire = () => sleep(6_600);

describe('the worker with ES256 tokens (WebCrypto) and the refresh Durable Object', { timeout: 180_000 }, () => {
  let stack;
  before(async () => { stack = await startStack({ alg: 'ES256' }); });
  after(async () => { await stack?.close(); });

  test('an anonymous page navigation signs in at the provider and comes back to the page', async () => {
    const b = new Browser(stack.app);
    const first = await b.fetch('/dashboard?tab=1', { headers: { 'sec-fetch-dest': 'document' } });
    assert.deepEqual(status(first), [302, 'signed-out', 'token-missing']);
    assert.equal(first.headers.get('location'), '/__tessera/sign-in?redirect_url=%2Fdashboard%3Ftab%3D1');

    const done = await b.signIn('/dashboard?tab=1');
    assert.equal(done.headers.get('location'), '/dashboard?tab=1');
    assert.ok(b.cookies.has('__Host-tessera-session') && b.cookies.has('__Host-tessera-refresh'));
    assert.ok(!b.cookies.has('__Host-tessera-tx'), 'the transaction cookie is spent');

    const page = await b.navigate('/dashboard?tab=1');
    assert.deepEqual(status(page), [200, 'signed-in', null]);
    const seen = await page.json();
    assert.equal(seen.url, '/dashboard?tab=1');
    assert.equal(seen.headers['x-tessera-user'], 'alice');
    assert.match(seen.headers.authorization, /^Bearer ey/);
    const claims = JSON.parse(Buffer.from(seen.headers['x-tessera-claims'], 'base64url'));
    assert.equal(claims.aud, 'https://api.tessera.test');
    assert.ok(!/tessera-(session|refresh)/.test(seen.headers.cookie ?? ''), 'sealed tokens never reach the origin');
    assert.equal(page.headers.getSetCookie().filter((c) => c.startsWith('origin-cookie')).length, 1, 'origin cookies pass through');

    const session = await b.fetch('/__tessera/session');
    assert.equal(session.status, 200);
    const body = await session.json();
    assert.equal(body.identity.sub, 'alice');
    assert.ok(!JSON.stringify(body).includes(seen.headers.authorization.slice(7)), 'the session endpoint never shows tokens');
  });

  test('the guard in workerd: no client credential or spoofed identity reaches the origin, preflights never run protected handlers, odd paths are refused', async () => {
    const b = new Browser(stack.app);
    // A public route without a session: the client's own Authorization and
    // any x-tessera-* (or x_tessera_*) header are removed.
    const anon = await b.fetch('/public/page', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=', 'x-tessera-user': 'admin', x_tessera_org: 'org_evil' } });
    assert.deepEqual(status(anon), [200, 'signed-out', 'token-missing']);
    const seen = (await anon.json()).headers;
    assert.equal(seen.authorization, undefined);
    assert.deepEqual(Object.keys(seen).filter((n) => n.replaceAll('_', '-').startsWith('x-tessera-')), []);
    // A preflight to a protected route is answered by the worker; to a public one it goes on bare.
    const preflight = (path) => fetch(`${stack.app}${path}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://spa.example', 'access-control-request-method': 'DELETE', authorization: 'Bearer a.b.c', cookie: 'theme=dark' },
    });
    const answered = await preflight('/api/items');
    assert.equal(answered.status, 204);
    assert.equal(answered.headers.get('access-control-allow-origin'), null);
    const forwarded = await preflight('/public/x');
    assert.equal(forwarded.status, 200);
    const bare = (await forwarded.json()).headers;
    assert.equal(bare.authorization, undefined);
    assert.equal(bare.cookie, undefined);
    // Targets workerd leaves as they are but a router could read differently.
    for (const path of ['//api/items', '/api/items;.css', '/api/%252e']) {
      const res = await fetch(`${stack.app}${path}`);
      assert.deepEqual(status(res), [400, 'denied', 'path-invalid'], path);
    }
  });

  test('the RP test plan in workerd: a tampering provider is refused at sign-in and at refresh', async () => {
    const key = await importJWK(stack.idp.signingKey, 'ES256');
    const forge = (token, changes) => new SignJWT({ ...decodeJwt(token), ...changes }).setProtectedHeader(decodeProtectedHeader(token)).sign(key);
    // Sign-in: an answer that is not JSON is the provider misbehaving (502), the code is spent.
    const broken = new Browser(stack.app);
    const start = await broken.fetch('/__tessera/sign-in?redirect_url=%2F');
    const callback = await login(start.headers.get('location'));
    stack.idp.tamperNextToken(() => '<html>');
    assert.deepEqual(status(await broken.fetch(callback)), [502, 'unavailable', 'auth-api-invalid']);
    // Refresh (OpenID Connect Core 12.2): a refreshed ID token for another sub,
    // forged with the provider's own key, ends the session and is revoked.
    const b = new Browser(stack.app);
    await b.signIn('/');
    await expire();
    const revocations = stack.idp.counts.revocations;
    stack.idp.tamperNextToken(async (t) => ({ ...t, id_token: await forge(t.id_token, { sub: 'mallory' }) }));
    const res = await b.fetch('/api/items');
    assert.deepEqual(status(res), [401, 'signed-out', 'claim-invalid']);
    assert.ok(!b.cookies.has('__Host-tessera-session') && !b.cookies.has('__Host-tessera-refresh'), 'the session ended');
    assert.equal(stack.idp.counts.revocations, revocations + 1, 'the tokens it received are revoked');
  });

  test('an API call without a session is a 401 with a Bearer challenge', async () => {
    const res = await new Browser(stack.app).fetch('/api/items');
    assert.deepEqual(status(res), [401, 'signed-out', 'token-missing']);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    const expired = await new Browser(stack.app).fetch('/api/items', { headers: { authorization: 'Bearer not.a.token' } });
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('www-authenticate'), /^Bearer error="invalid_token", error_description="/);
  });

  test('an expired access token is refreshed transparently; twenty concurrent requests make one refresh', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    const before = { ...b.cookies };
    await expire();
    const refreshes = stack.idp.counts.refresh;
    const cookie = b.header();
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      fetch(`${stack.app}/api/items/${i}`, { headers: { cookie }, redirect: 'manual' })));
    for (const res of all) {
      assert.deepEqual(status(res), [200, 'refreshed', null]);
      assert.equal((await res.json()).headers['x-tessera-user'], 'alice');
    }
    assert.equal(stack.idp.counts.refresh - refreshes, 1, 'exactly one refresh reached the provider');
    assert.equal(stack.idp.counts.refreshRefused, 0);

    // Every response carries the same new session; the browser keeps the last.
    b.apply(all[19]);
    assert.notEqual(b.cookies.get('__Host-tessera-refresh'), before['__Host-tessera-refresh']);
    const next = await b.fetch('/api/items');
    assert.deepEqual(status(next), [200, 'signed-in', null]);

    // A late tab still holding the rotated-out refresh token gets the same new
    // tokens (replay window) instead of replaying it at the provider, which
    // would revoke the whole grant.
    const late = await fetch(`${stack.app}/api/late`, { headers: { cookie }, redirect: 'manual' });
    assert.deepEqual(status(late), [200, 'refreshed', null]);
    assert.equal(stack.idp.counts.refresh - refreshes, 1);
    assert.equal(stack.idp.counts.refreshRefused, 0, 'the provider never saw the old token again');

    // The session survives rotation: the next expiry refreshes with the new token.
    await expire();
    const again = await b.fetch('/api/items');
    assert.deepEqual(status(again), [200, 'refreshed', null]);
    assert.equal(stack.idp.counts.refresh - refreshes, 2);
  });

  test('sign-out revokes the refresh token at the provider and clears the cookies', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    const kept = b.header();
    const revocations = stack.idp.counts.revocations;
    const out = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { origin: stack.app } });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('location'), new RegExp(`^${stack.idp.issuer}/session/end\\?client_id=`));
    assert.equal(stack.idp.counts.revocations - revocations, 1);
    assert.ok(!b.cookies.has('__Host-tessera-session') && !b.cookies.has('__Host-tessera-refresh'));

    // The old cookies are refused: the sign-out is a revocation every isolate
    // reads from the store (and the refresh token is revoked at the provider).
    await expire();
    const refreshes = stack.idp.counts.refresh;
    const res = await fetch(`${stack.app}/api/items`, { headers: { cookie: kept }, redirect: 'manual' });
    assert.deepEqual(status(res), [401, 'signed-out', 'session-revoked']);
    assert.equal(stack.idp.counts.refresh, refreshes, 'no refresh succeeded for the copy');
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('__Host-tessera-refresh=;')), 'cookies cleared');
  });

  test('spoofed identity headers never reach the origin', async () => {
    const spoof = { 'x-tessera-user': 'admin', 'X-Tessera-Claims': 'eyJzdWIiOiJhZG1pbiJ9' };
    const anon = await new Browser(stack.app).fetch('/public/page', { headers: spoof });
    assert.deepEqual(status(anon), [200, 'signed-out', 'token-missing']);
    const seen = (await anon.json()).headers;
    assert.equal(seen['x-tessera-user'], undefined);
    assert.equal(seen['x-tessera-claims'], undefined);

    const b = new Browser(stack.app);
    await b.signIn('/');
    const signed = await b.fetch('/api/me', { headers: spoof });
    assert.equal((await signed.json()).headers['x-tessera-user'], 'alice');
  });

  test('a cross-site POST with the session cookie is refused', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    const res = await b.fetch('/api/transfer', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: 'amount=1000',
    });
    assert.deepEqual(status(res), [403, 'denied', 'csrf-rejected']);
    const same = await b.fetch('/api/transfer', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin', 'content-type': 'text/plain' },
      body: 'amount=1',
    });
    assert.equal(same.status, 200);
    assert.equal((await same.json()).body, 'amount=1', 'the body streams through to the origin');
  });

  test('tampered, truncated and foreign-key cookies are refused as unsealable', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    const sealed = b.cookies.get('__Host-tessera-session');
    const flip = sealed.slice(0, 20) + (sealed[20] === 'A' ? 'B' : 'A') + sealed.slice(21);
    // Sealed with another (valid-looking) key id the worker does not hold.
    const foreign = sealed.replace(/^t2\.k1\./, 't2.k9.');
    assert.notEqual(foreign, sealed);
    for (const value of [flip, sealed.slice(0, sealed.length - 10), foreign]) {
      const res = await fetch(`${stack.app}/api/items`, {
        headers: { cookie: `__Host-tessera-session=${value}` },
        redirect: 'manual',
      });
      assert.deepEqual(status(res), [401, 'signed-out', 'cookie-unsealable']);
      assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('__Host-tessera-session=;')), 'the bad cookie is cleared');
    }
  });

  test('the provider rotates its signing key and sessions keep working', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    const kid = await stack.idp.rotateKeys();
    await expire();
    const res = await b.fetch('/api/items');
    assert.deepEqual(status(res), [200, 'refreshed', null]);
    const token = (await res.json()).headers.authorization.slice(7);
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url'));
    assert.equal(header.kid, kid, 'the new token is signed with the new key');
    // Sessions signed before the rotation keep working too.
    const old = new Browser(stack.app);
    await old.signIn('/');
    assert.equal((await old.fetch('/api/items')).status, 200);
  });

  test('a provider outage keeps sessions: valid tokens pass, expired ones get 503, and it recovers', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    await stack.idp.stop();
    try {
      assert.deepEqual(status(await b.fetch('/api/items')), [200, 'signed-in', null]);
      await expire();
      const res = await b.fetch('/api/items');
      assert.deepEqual(status(res), [503, 'unavailable', 'auth-api-unavailable']);
      assert.ok(res.headers.get('retry-after'));
      assert.equal(res.headers.getSetCookie().length, 0, 'no cookie is cleared during an outage');
    } finally {
      await stack.idp.start();
    }
    const back = await b.fetch('/api/items');
    assert.deepEqual(status(back), [200, 'refreshed', null]);
  });
});

describe('the worker with RS256 tokens checked in Rust and in-isolate refresh only', { timeout: 120_000 }, () => {
  let stack;
  before(async () => { stack = await startStack({ alg: 'RS256', refreshObject: false, hostSignatures: 'none' }); });
  after(async () => { await stack?.close(); });

  test('sign-in, expiry, one refresh for concurrent requests, sign-out', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/home');
    assert.deepEqual(status(await b.navigate('/home')), [200, 'signed-in', null]);
    await expire();
    const refreshes = stack.idp.counts.refresh;
    const cookie = b.header();
    const all = await Promise.all(Array.from({ length: 10 }, () =>
      fetch(`${stack.app}/api/x`, { headers: { cookie }, redirect: 'manual' })));
    assert.deepEqual(all.map((r) => r.status), Array(10).fill(200));
    assert.equal(stack.idp.counts.refresh - refreshes, 1);
    b.apply(all[0]);
    const out = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.deepEqual(status(await b.fetch('/api/x')), [401, 'signed-out', 'token-missing']);
  });
});

describe('the worker with ID-token sessions and a provider of opaque access tokens', { timeout: 120_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({
      opaque: true,
      config: {
        resources: [],
        session: { identity: 'id-token' },
        verification: { algorithms: ['ES256'], leeway: 0 },
        routes: [{ pattern: '/', access: 'public' }, { pattern: '/api/**', access: 'api', bearer: false }],
      },
    });
  });
  after(async () => { await stack?.close(); });

  test('sign-in, the ID token\'s identity, one refresh for concurrent requests, sign-out', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/home');
    const page = await b.navigate('/home');
    assert.deepEqual(status(page), [200, 'signed-in', null]);
    const seen = (await page.json()).headers;
    assert.equal(seen['x-tessera-user'], 'alice');
    assert.equal(seen.authorization, undefined, 'the opaque access token stays with the worker');
    // A credential the client adds never rides along with the identity.
    const smuggled = await fetch(`${stack.app}/home`, { headers: { cookie: b.header(), authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.' } });
    const smuggledSeen = (await smuggled.json()).headers;
    assert.equal(smuggledSeen['x-tessera-user'], 'alice');
    assert.equal(smuggledSeen.authorization, undefined, 'the client\'s authorization is removed');
    await expire();
    const refreshes = stack.idp.counts.refresh;
    const cookie = b.header();
    const all = await Promise.all(Array.from({ length: 10 }, () =>
      fetch(`${stack.app}/api/x`, { headers: { cookie }, redirect: 'manual' })));
    assert.deepEqual(all.map((r) => r.status), Array(10).fill(200));
    assert.equal(stack.idp.counts.refresh - refreshes, 1);
    assert.equal(stack.idp.counts.refreshRefused, 0);
    b.apply(all[0]);
    const revocations = stack.idp.counts.revocations;
    const out = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.equal(stack.idp.counts.revocations - revocations, 1);
    assert.deepEqual(status(await b.fetch('/api/x')), [401, 'signed-out', 'token-missing']);
  });
});

describe('the worker admitting opaque bearer tokens through introspection', { timeout: 120_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({
      opaque: true,
      accessTokenTtl: 300,
      config: {
        resources: [],
        session: { identity: 'id-token', passAccessToken: true },
        introspection: { maxAge: 60 },
        verification: { authorizedParties: ['tessera-demo'], algorithms: ['ES256'], leeway: 0 },
      },
    });
  });
  after(async () => { await stack?.close(); });

  test('a real opaque token is admitted as its subject; ten concurrent requests make one call', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/home');
    const seen = (await (await b.navigate('/home')).json()).headers;
    const token = seen.authorization.slice('Bearer '.length);
    assert.doesNotMatch(token, /\./, 'an opaque token, passed on by passAccessToken');
    const before = stack.idp.counts.introspections;
    const all = await Promise.all(Array.from({ length: 10 }, () =>
      fetch(`${stack.app}/api/x`, { headers: { authorization: `Bearer ${token}` } })));
    assert.deepEqual(all.map((r) => r.status), Array(10).fill(200));
    const echoed = await all[0].json();
    assert.equal(echoed.headers['x-tessera-user'], 'alice');
    assert.equal(stack.idp.counts.introspections - before, 1);
    const bad = await fetch(`${stack.app}/api/x`, { headers: { authorization: 'Bearer not-a-real-token' } });
    assert.deepEqual(status(bad), [401, 'signed-out', 'token-inactive']);
    // A new isolate finds the answer in the Cache API: no second call.
    const asked = stack.idp.counts.introspections;
    await stack.restartWorker();
    const cold = await fetch(`${stack.app}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(cold.status, 200);
    assert.equal(stack.idp.counts.introspections, asked, 'the cold isolate asked no one');
  });
});

describe('the worker with EdDSA tokens (WebCrypto Ed25519)', { timeout: 60_000 }, () => {
  let stack;
  before(async () => { stack = await startStack({ alg: 'EdDSA' }); });
  after(async () => { await stack?.close(); });

  test('a session works and what only the strict rules refuse is refused', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/home');
    const page = await b.navigate('/home');
    assert.deepEqual(status(page), [200, 'signed-in', null]);
    const token = (await page.json()).headers.authorization.slice('Bearer '.length);
    const bearer = (t) => fetch(`${stack.app}/api/x`, { headers: { authorization: `Bearer ${t}` } });
    assert.deepEqual(status(await bearer(token)), [200, 'signed-in', null]);
    // workerd's Ed25519 alone would accept these.
    for (const [name, forged] of Object.entries(lenientOnlyTokens(stack.idp.signingKey, token))) {
      const res = await bearer(forged);
      assert.deepEqual(status(res), [401, 'signed-out', 'signature-invalid'], name);
    }
  });
});

describe('a cold isolate', { timeout: 60_000 }, () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.close(); });

  test('starts from the key set in the Cache API instead of refetching it', async () => {
    const b = new Browser(stack.app);
    await b.signIn('/');
    assert.deepEqual([stack.idp.counts.discovery, stack.idp.counts.jwks], [1, 1]);
    await sleep(200); // the snapshot is written after the response (waitUntil)
    await stack.restartWorker(); // a new isolate: a new engine with empty caches; the Cache API stays
    // A request that needs no keys comes first: the snapshot is read when the
    // engine first asks for the provider's documents, not before.
    const anonymous = await fetch(`${stack.app}/api/items`);
    assert.deepEqual(status(anonymous), [401, 'signed-out', 'token-missing']);
    const res = await b.fetch('/api/items');
    assert.deepEqual(status(res), [200, 'signed-in', null]);
    assert.deepEqual([stack.idp.counts.discovery, stack.idp.counts.jwks], [1, 1], 'nothing refetched');
  });
});

describe('a misconfigured worker', { timeout: 60_000 }, () => {
  /** The worker's answer to a request, started with `config` merged into TESSERA_CONFIG. */
  async function answer(config) {
    const stack = await startStack({ config });
    try {
      const res = await fetch(`${stack.app}/api/items`);
      return { status: res.status, tessera: res.headers.get('x-tessera-status'), body: await res.text() };
    } finally {
      await stack.close();
    }
  }

  test('every field the schema marks as a secret is refused in the TESSERA_CONFIG var, naming its binding', async () => {
    const schema = JSON.parse(readFileSync(new URL('../../js/schema.json', import.meta.url), 'utf8'));
    const secrets = Object.entries(schema.properties).filter(([, s]) => s.writeOnly).map(([k]) => k);
    const bindings = { clientSecret: 'TESSERA_CLIENT_SECRET', cookieKeys: 'TESSERA_COOKIE_KEYS', forwardSigningSecret: 'TESSERA_FORWARD_SECRET', revokeSecret: 'TESSERA_REVOKE_SECRET' };
    assert.deepEqual(secrets.sort(), Object.keys(bindings).sort());
    for (const field of secrets) {
      const a = await answer({ [field]: 'in-a-var-' + 'x'.repeat(40) });
      assert.deepEqual([a.status, a.tessera], [500, 'error'], field);
      assert.match(a.body, new RegExp(`\`TESSERA_CONFIG\\.${field}\`: secrets do not belong in a var`));
      assert.match(a.body, new RegExp(`wrangler secret put ${bindings[field]}`));
    }
  });

  test('the rules that involve secrets are checked with the secret bindings in', async () => {
    // The stack binds TESSERA_COOKIE_KEYS, so sessions are on and need a clientId.
    const a = await answer({ clientId: '' });
    assert.deepEqual([a.status, a.tessera], [500, 'error']);
    assert.match(a.body, /`clientId`: is required for sessions/);
    // And a document that is not the schema names the key.
    const b = await answer({ sesion: 1 });
    assert.equal(b.status, 500);
    assert.match(b.body, /`TESSERA_CONFIG\.sesion`: unknown field `sesion`/);
  });
});
