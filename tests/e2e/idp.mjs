// A real OpenID Provider for the end-to-end tests and the demo: oidc-provider on
// 127.0.0.1 with JWT access tokens (resource indicators), short access-token
// lifetimes, rotating refresh tokens, revocation and RP-initiated logout.
//
// The store is shared across provider rebuilds, so the signing keys can rotate
// in a running test without losing sign-ins, sessions or refresh tokens.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'tessera-demo';
export const CLIENT_SECRET = 'demo-client-secret';
export const API = 'https://api.tessera.test';
/** The client-credentials client `machineClient` registers. */
export const MACHINE_ID = 'tessera-jobs';
export const MACHINE_SECRET = 'jobs-client-secret';

/** An in-memory adapter whose records outlive a provider instance. */
function memoryAdapter(store) {
  return class MemoryAdapter {
    constructor(name) { this.name = name; }
    key(id) { return `${this.name}:${id}`; }
    async upsert(id, payload, expiresIn) {
      const expires = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { payload, expires });
      if (payload.grantId) {
        const k = `grant:${payload.grantId}`;
        store.set(k, { payload: [...(store.get(k)?.payload ?? []), this.key(id)], expires: Infinity });
      }
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expires });
      if (payload.uid) store.set(`uid:${payload.uid}`, { payload: id, expires });
    }
    async find(id) {
      const r = store.get(this.key(id));
      return r && r.expires > Date.now() ? r.payload : undefined;
    }
    async findByUid(uid) { const id = store.get(`uid:${uid}`)?.payload; return id && this.find(id); }
    async findByUserCode(code) { const id = store.get(`userCode:${code}`)?.payload; return id && this.find(id); }
    async consume(id) { const r = store.get(this.key(id)); if (r) r.payload.consumed = Math.floor(Date.now() / 1000); }
    async destroy(id) { store.delete(this.key(id)); }
    async revokeByGrantId(grantId) {
      for (const k of store.get(`grant:${grantId}`)?.payload ?? []) store.delete(k);
      store.delete(`grant:${grantId}`);
    }
  };
}

async function signingKey(alg, kid) {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true };
  const { privateKey } = await generateKeyPair(alg, options);
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

/**
 * Starts the provider on 127.0.0.1:`port` (0 picks one).
 * `redirectOrigin` is the app origin whose callback and post-logout URIs are registered.
 * `accessTokenClaims(token)` is called for each access token issued (its
 * `accountId` names the user; a client-credentials token has none) and
 * returns claims to add (roles; a way to make tokens, and so cookies, larger
 * or smaller during a test).
 * `opaque: true` configures it the second way: no resource indicators, so its
 * access tokens are opaque (for its userinfo endpoint), as Google's, GitHub's
 * and django-oauth-toolkit's are, with its introspection endpoint on.
 * `backchannelLogoutUri` registers the client for OpenID Connect
 * Back-Channel Logout (with `sid`): signing out at the provider's end-session
 * page (`endSession`) then POSTs a logout token there.
 * `apiScopes`: more scopes the API offers (and clients may ask for), e.g.
 * `orders:read`. `machineClient`: registers `MACHINE_ID` for the client
 * credentials grant (`clientCredentials(scope)` gets its JWT access token,
 * whose subject is the client, RFC 9068). `dpop`: its DPoP feature (RFC
 * 9449), so a token request with a `DPoP` proof gets a key-bound token.
 */
export async function startIdp({ port = 0, alg = 'ES256', redirectOrigin, accessTokenTtl = 5, accessTokenClaims = () => ({}), opaque = false, backchannelLogoutUri, apiScopes = [], machineClient = false, dpop = false } = {}) {
  const store = new Map();
  const counts = { refresh: 0, refreshRefused: 0, code: 0, revocations: 0, discovery: 0, jwks: 0, introspections: 0, backchannel: 0, backchannelFailed: 0 };
  let keys = [await signingKey(alg, `${alg.toLowerCase()}-1`)];
  let provider;
  let issuer;

  const build = () => {
    provider = new Provider(issuer, {
      adapter: memoryAdapter(store),
      clients: [{
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [`${redirectOrigin}/__tessera/callback`],
        post_logout_redirect_uris: [`${redirectOrigin}/`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: alg,
        ...(backchannelLogoutUri ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
      }, ...(machineClient ? [{
        client_id: MACHINE_ID,
        client_secret: MACHINE_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: alg,
      }] : [])],
      jwks: { keys },
      cookies: { keys: ['tessera-test-cookie-key'] },
      pkce: { required: () => true },
      // Its back-channel logout calls go to the app on 127.0.0.1, which its
      // SSRF guard (a dispatcher refusing special-use addresses) would refuse:
      // everything in these tests is on loopback by design.
      fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
      rotateRefreshToken: true,
      scopes: ['openid', 'offline_access', 'profile', 'email', ...apiScopes],
      claims: { openid: ['sub', 'sid'], email: ['email'], profile: ['name'] },
      ttl: { AccessToken: accessTokenTtl, IdToken: opaque ? accessTokenTtl : 600, RefreshToken: 86_400, Session: 86_400, Grant: 86_400, Interaction: 600, AuthorizationCode: 60 },
      features: {
        devInteractions: { enabled: true },
        revocation: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        backchannelLogout: { enabled: Boolean(backchannelLogoutUri) },
        introspection: { enabled: opaque },
        clientCredentials: { enabled: machineClient },
        dPoP: { enabled: dpop },
        resourceIndicators: {
          enabled: !opaque,
          defaultResource: () => API,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: ['openid profile email offline_access', ...apiScopes].join(' '),
            audience: API,
            accessTokenFormat: 'jwt',
            accessTokenTTL: accessTokenTtl,
            jwt: { sign: { alg } },
          }),
        },
      },
      // Access tokens carry the provider session (`sid`) and an organisation, as
      // Clerk's and Auth0's do, so the identity the worker forwards is complete.
      extraTokenClaims: async (ctx, token) => (token.kind === 'AccessToken'
        ? { ...(token.accountId ? { sid: token.sessionUid, org_id: 'org_tessera_demo', org_role: 'admin' } : {}), ...accessTokenClaims(token) }
        : undefined),
      issueRefreshToken: async (ctx, client, code) =>
        client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
      findAccount: async (ctx, sub) => ({
        accountId: sub,
        claims: async () => ({ sub, email: `${sub}@example.test`, name: sub }),
      }),
    });
    provider.on('grant.success', (ctx) => {
      const grant = ctx.oidc.params.grant_type;
      if (grant === 'refresh_token') counts.refresh += 1;
      if (grant === 'authorization_code') counts.code += 1;
    });
    provider.on('grant.error', (ctx) => {
      if (ctx.oidc.params?.grant_type === 'refresh_token') counts.refreshRefused += 1;
    });
    provider.on('grant.revoked', () => { counts.revocations += 1; });
    provider.on('backchannel.success', () => { counts.backchannel += 1; });
    provider.on('backchannel.error', (ctx, err) => { counts.backchannelFailed += 1; counts.backchannelError = String(err?.message ?? err); });
  };

  /** `(json) => json | string | Promise<…>`: rewrites the next token endpoint answer. */
  let tokenTamper = null;
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks') counts.jwks += 1;
    if (req.url === '/token/introspection') counts.introspections += 1;
    if (req.url === '/.well-known/openid-configuration') counts.discovery += 1;
    if (tokenTamper && req.method === 'POST' && req.url === '/token') {
      interceptBody(res, tokenTamper);
      tokenTamper = null;
    }
    provider.callback()(req, res);
  });
  const listen = (p) => new Promise((resolve) => server.listen(p, '127.0.0.1', resolve));
  await listen(port);
  const actualPort = server.address().port;
  issuer = `http://127.0.0.1:${actualPort}`;
  build();

  return {
    issuer,
    counts,
    /** The current signing key, private (tests forge signatures with it). */
    get signingKey() { return keys[0]; },
    /**
     * A tampering back channel: the next token endpoint answer (a 200) is
     * rewritten by `rewrite(json)` before it leaves, as a hostile or broken
     * provider would answer.
     */
    tamperNextToken(rewrite) { tokenTamper = rewrite; },
    /**
     * A client-credentials access token for `MACHINE_ID` (with
     * `machineClient`); `dpopProof(htm, htu)`, when given, makes the token
     * request's DPoP proof, and the token is bound to its key.
     */
    async clientCredentials(scope, dpopProof) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${MACHINE_ID}:${MACHINE_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          ...(dpopProof ? { dpop: await dpopProof('POST', `${issuer}/token`) } : {}),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, ...(scope ? { scope } : {}) }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`client credentials: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    /** Publishes a new signing key (it signs from now on); the old one stays published. */
    async rotateKeys() {
      keys = [await signingKey(alg, `${alg.toLowerCase()}-${keys.length + 1}`), ...keys];
      build();
      return keys[0].kid;
    },
    /** Stops answering (connections refused) until `start()`. */
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    async start() { await listen(actualPort); },
    async close() {
      if (server.listening) await this.stop();
    },
  };
}

/** Holds back `res`'s body (one `end` call, as Koa answers) and sends `rewrite(json)` instead when the status is 200. */
function interceptBody(res, rewrite) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (res.statusCode !== 200 || !chunk) return end(chunk, ...rest);
    Promise.resolve(rewrite(JSON.parse(Buffer.from(chunk).toString('utf8')))).then((out) => {
      const body = typeof out === 'string' ? out : JSON.stringify(out);
      res.setHeader('content-length', Buffer.byteLength(body));
      end(body);
    });
    return res;
  };
}

/**
 * Drives the provider's own login and consent pages with `fetch`, starting from the
 * authorization URL, and returns the callback URL the provider redirects to.
 */
export async function login(authorizeUrl, user = 'alice', jar = new Map()) {
  const send = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  };
  let url = authorizeUrl;
  for (let step = 0; step < 12; step += 1) {
    const res = await send(url);
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), url).href;
      if (!next.startsWith(new URL(authorizeUrl).origin)) return next; // back to the app
      url = next;
      continue;
    }
    const html = await res.text();
    const action = html.match(/action="([^"]+)"/)?.[1];
    if (res.status !== 200 || !action) throw new Error(`unexpected provider page ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const form = html.includes('name="login"')
      ? new URLSearchParams({ prompt: 'login', login: user, password: 'any' })
      : new URLSearchParams({ prompt: 'consent' });
    const posted = await send(new URL(action, url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    if (posted.status < 300 || posted.status >= 400) throw new Error(`form post answered ${posted.status}`);
    url = new URL(posted.headers.get('location'), url).href;
  }
  throw new Error('login did not finish');
}

/**
 * Signs out at the provider's own end-session page, as a user would there
 * (not through the app), with the provider cookies `jar` that `login` kept:
 * the provider then POSTs its back-channel logout tokens before it answers.
 */
export async function endSession(issuer, jar) {
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const page = await fetch(`${issuer}/session/end`, { headers: { cookie: cookie() }, redirect: 'manual' });
  const html = await page.text();
  const xsrf = html.match(/name="xsrf" value="([^"]+)"/)?.[1];
  const action = html.match(/action="([^"]+)"/)?.[1];
  if (!xsrf || !action) throw new Error(`unexpected end-session page ${page.status}: ${html.slice(0, 300)}`);
  const done = await fetch(new URL(action, issuer), {
    method: 'POST',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
    redirect: 'manual',
  });
  if (done.status < 300 || done.status >= 400) throw new Error(`end-session confirm answered ${done.status}`);
}
