// The whole local stack, on 127.0.0.1 only: the OpenID Provider (oidc-provider),
// an origin app that echoes what it receives, and the worker in workerd (via
// miniflare). Used by the end-to-end tests and by the demo.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { startIdp, login, CLIENT_ID, CLIENT_SECRET, API } from './idp.mjs';
import { startDemoOrigin } from '../../demo/origin.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WORKER_SCRIPT = path.join(root, 'crates/worker/entry.mjs');
// A test-only sealing key (32 zero-to-31 bytes); never use it anywhere else.
export const COOKIE_KEYS = 'k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';

export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The origin app: answers every request with what it received, as JSON. */
export async function startOrigin(port = 0) {
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    res.setHeader('content-type', 'application/json');
    res.setHeader('set-cookie', 'origin-cookie=1; Path=/');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/**
 * Starts everything. `config` is merged over the default Tessera configuration.
 * `refreshObject: false` leaves the Durable Object unbound (in-isolate refresh only).
 * `workerLog` is the worker's TESSERA_LOG; `hostSignatures` its TESSERA_HOST_SIGNATURES
 * (default: the worker default, WebCrypto for ES256, RSnnn and PSnnn).
 * `origin: 'demo'` puts the demo's pages (demo/origin.mjs) behind the worker instead
 * of the echo app. `appHost` is the host name the app is reached by (the worker
 * always listens on 127.0.0.1; browsers resolve `localhost` there themselves).
 * `accessTokenClaims` is passed to the provider (see startIdp).
 */
/**
 * `provider(redirectOrigin)`, when given, starts another provider than
 * oidc-provider (it resolves to `{ issuer, close() }`; `clientSecret` is then
 * its client's secret).
 */
export async function startStack({ alg = 'ES256', accessTokenTtl = 6, config = {}, port, refreshObject = true, storeObject = true, bindings: extraBindings = {}, log = false, workerLog = 'problems', hostSignatures, origin: originKind = 'echo', appHost = '127.0.0.1', accessTokenClaims, opaque = false, provider, clientSecret = CLIENT_SECRET, backchannel = false } = {}) {
  const workerPort = port ?? (await freePort());
  const app = `http://${appHost}:${workerPort}`;
  const backchannelLogoutUri = backchannel ? `${app}/__tessera/backchannel-logout` : undefined;
  const idp = provider ? await provider(app) : await startIdp({ alg, redirectOrigin: app, accessTokenTtl, accessTokenClaims, opaque, backchannelLogoutUri });
  // The demo's back end may end a user's sessions everywhere through the
  // worker's revoke endpoint, with a secret only it and the worker hold.
  const revokeSecret = originKind === 'demo' ? Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64') : undefined;
  const origin = originKind === 'demo'
    ? await startDemoOrigin(0, { url: `http://127.0.0.1:${workerPort}/__tessera/revoke`, secret: revokeSecret })
    : await startOrigin();
  const tessera = {
    issuer: idp.issuer,
    clientId: CLIENT_ID,
    appOrigin: app,
    resources: [API],
    authorizationParams: { prompt: 'consent' },
    verification: { audience: API, algorithms: [alg], leeway: 0 },
    refreshAhead: 1,
    routes: [
      { pattern: '/', access: 'public' },
      { pattern: '/public/**', access: 'public' },
      { pattern: '/assets/**', access: 'public' },
      { pattern: '/api/**', access: 'api' },
    ],
    ...config,
  };
  const options = {
    modules: true,
    scriptPath: WORKER_SCRIPT,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2026-04-20',
    host: '127.0.0.1',
    port: workerPort,
    bindings: {
      TESSERA_CONFIG: JSON.stringify(tessera),
      ORIGIN_URL: origin.url,
      TESSERA_CLIENT_SECRET: clientSecret,
      TESSERA_COOKIE_KEYS: COOKIE_KEYS,
      TESSERA_LOG: workerLog,
      ...(hostSignatures === undefined ? {} : { TESSERA_HOST_SIGNATURES: hostSignatures }),
      ...(revokeSecret ? { TESSERA_REVOKE_SECRET: revokeSecret } : {}),
      ...extraBindings,
    },
    durableObjects: {
      ...(refreshObject ? { TESSERA_REFRESH: 'RefreshSession' } : {}),
      ...(storeObject ? { TESSERA_STORE: 'RevocationStore' } : {}),
    },
    cache: true,
    verbose: log,
  };
  const mf = new Miniflare(options);
  try {
    await mf.ready;
  } catch (e) {
    await mf.dispose().catch(() => {});
    await idp.close();
    await origin.close();
    throw e;
  }
  return {
    app,
    idp,
    origin,
    mf,
    tessera,
    /** Restarts workerd: a new isolate; the Cache API keeps its entries. */
    restartWorker: () => mf.setOptions(options),
    async close() {
      await mf.dispose().catch(() => {});
      await idp.close();
      await origin.close();
    },
  };
}

/** A scripted browser: a cookie jar, no automatic redirects. */
export class Browser {
  constructor(app) {
    this.app = app;
    this.cookies = new Map();
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Applies `Set-Cookie` headers like a browser (Max-Age=0 deletes). */
  apply(res) {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';').map((s) => s.trim());
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(i + 1));
    }
  }

  async fetch(pathOrUrl, init = {}) {
    const url = new URL(pathOrUrl, this.app);
    const headers = new Headers(init.headers);
    if (url.origin === this.app && this.cookies.size && !headers.has('cookie')) headers.set('cookie', this.header());
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    if (url.origin === this.app) this.apply(res);
    return res;
  }

  /** Navigates like a browser: document requests, following same-origin redirects. */
  async navigate(p) {
    let res = await this.fetch(p, { headers: { 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    for (let i = 0; i < 5 && res.status >= 300 && res.status < 400; i += 1) {
      const next = new URL(res.headers.get('location'), this.app);
      if (next.origin !== this.app) return res;
      res = await this.fetch(next.href, { headers: { 'sec-fetch-dest': 'document', accept: 'text/html' } });
    }
    return res;
  }

  /** The whole sign-in: the worker's sign-in endpoint, the provider's pages, the callback. */
  /** Signs in through the provider's pages, driven by `providerLogin` (oidc-provider's by default). */
  async signIn(returnTo = '/dashboard', user = 'alice', providerLogin = login) {
    const start = await this.fetch(`/__tessera/sign-in?redirect_url=${encodeURIComponent(returnTo)}`);
    if (start.status !== 302) throw new Error(`sign-in answered ${start.status}: ${await start.text()}`);
    const callback = await providerLogin(start.headers.get('location'), user);
    const done = await this.fetch(callback);
    if (done.status !== 303) throw new Error(`callback answered ${done.status} ${done.headers.get('x-tessera-reason')}: ${await done.text()}`);
    return done;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
