// The framework adapters in real apps against oidc-provider on 127.0.0.1: an
// Express app and a Hono app (on @hono/node-server) listening on 127.0.0.1 and
// driven over HTTP like a browser, and the Next.js middleware and route
// handler wrapper called with next's own NextRequest and NextResponse.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { NextRequest } from 'next/server.js';
import { createTessera } from 'tessera-edge';
import { tesseraMiddleware as expressMiddleware } from 'tessera-edge/express';
import { tesseraMiddleware as honoMiddleware } from 'tessera-edge/hono';
import { tesseraMiddleware as nextMiddleware, withAuth } from 'tessera-edge/next';
import { startIdp, login, CLIENT_ID, CLIENT_SECRET, API } from '../../tests/e2e/idp.mjs';
import { Browser, COOKIE_KEYS, freePort, sleep } from '../../tests/e2e/stack.mjs';
import { APP, Jar } from './helpers.mjs';

const TTL = 3;

const config = (issuer, appOrigin) => ({
  issuer,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  appOrigin,
  cookieKeys: COOKIE_KEYS,
  cookies: { prefix: 'tessera', secure: false },
  resources: [API],
  authorizationParams: { prompt: 'consent' },
  verification: { audience: API, leeway: 0 },
  refreshAhead: 1,
  routes: [
    { pattern: '/', access: 'public' },
    { pattern: '/api/**', access: 'api' },
  ],
});

const status = (res) => [res.status, res.headers.get('x-tessera-status'), res.headers.get('x-tessera-reason')];

/** What every app's `/api/me` handler reports: what reached it. */
const seen = (identity, headers) => ({
  user: identity?.sub ?? null,
  forwardedUser: headers.get('x-tessera-user'),
  bearer: (headers.get('authorization') ?? '').startsWith('Bearer '),
  cookie: headers.get('cookie'),
});

/** The same checks for each app served over HTTP. */
function httpAppSuite(name, startApp) {
  describe(`tessera-edge/${name} in a real ${name} app`, { timeout: 120_000 }, () => {
    let idp;
    let app;
    let origin;
    const browser = () => new Browser(origin);

    before(async () => {
      const port = await freePort();
      origin = `http://127.0.0.1:${port}`;
      idp = await startIdp({ redirectOrigin: origin, accessTokenTtl: TTL });
      app = await startApp(createTessera(config(idp.issuer, origin)), port);
    });
    after(async () => {
      await app?.close();
      await idp?.close();
    });

    test('a page without a session goes to sign-in; an API call gets 401; a public page passes', async () => {
      const b = browser();
      const page = await b.fetch('/dashboard', { headers: { 'sec-fetch-dest': 'document', accept: 'text/html' } });
      assert.equal(page.status, 302);
      assert.equal(page.headers.get('location'), '/__tessera/sign-in?redirect_url=%2Fdashboard');
      const api = await b.fetch('/api/me');
      assert.deepEqual(status(api), [401, 'signed-out', 'token-missing']);
      assert.match(api.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await api.json()).error, 'token-missing');
      const home = await b.fetch('/');
      assert.equal(home.status, 200);
      assert.equal((await home.json()).user, null);
    });

    test('signs in through the app; handlers get the identity, never a spoofed header or the session cookies', async () => {
      const b = browser();
      await b.signIn('/api/me');
      const res = await b.fetch('/api/me', { headers: { 'x-tessera-user': 'mallory', cookie: `${b.header()}; theme=dark` } });
      assert.deepEqual(status(res), [200, 'signed-in', null]);
      assert.deepEqual(await res.json(), { user: 'alice', forwardedUser: 'alice', bearer: true, cookie: 'theme=dark' });
      const bob = browser();
      await bob.signIn('/', 'bob');
      assert.equal((await (await bob.fetch('/api/me')).json()).user, 'bob');
    });

    test('an expired session is refreshed inside the app; the new cookies reach the browser', async () => {
      const b = browser();
      await b.signIn('/api/me');
      const before = b.header();
      await sleep((TTL + 1) * 1000);
      const refreshes = idp.counts.refresh;
      const res = await b.fetch('/api/me');
      assert.deepEqual(status(res), [200, 'refreshed', null]);
      assert.equal((await res.json()).user, 'alice');
      assert.equal(idp.counts.refresh - refreshes, 1);
      assert.notEqual(b.header(), before, 'the refreshed cookies were set on the app\'s response');
      assert.deepEqual(status(await b.fetch('/api/me')), [200, 'signed-in', null]);
    });

    test('a request body reaches the handler untouched; a cross-site POST never does', async () => {
      const b = browser();
      await b.signIn('/api/me');
      const body = JSON.stringify({ amount: 42, note: 'x'.repeat(100_000) });
      const ok = await b.fetch('/api/echo', { method: 'POST', headers: { 'content-type': 'application/json', origin }, body });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { user: 'alice', received: body.length });
      const forged = await b.fetch('/api/echo', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body });
      assert.deepEqual(status(forged), [403, 'denied', 'csrf-rejected']);
      assert.equal(app.posts, 1);
    });
  });
}

httpAppSuite('express', async (tessera, port) => {
  const app = express();
  const state = { posts: 0 };
  app.use(expressMiddleware(tessera));
  app.use(express.json({ limit: '1mb' }));
  const headersOf = (req) => new Headers(Object.entries(req.headers).filter(([, v]) => typeof v === 'string'));
  app.get('/', (req, res) => res.json({ user: req.auth?.identity?.sub ?? null }));
  app.get('/api/me', (req, res) => res.json(seen(req.auth?.identity, headersOf(req))));
  app.post('/api/echo', (req, res) => {
    state.posts += 1;
    res.json({ user: req.auth.identity.sub, received: JSON.stringify(req.body).length });
  });
  const server = app.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { get posts() { return state.posts; }, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
});

test('tessera-edge/express answers TRACE with 405 (a Fetch Request cannot carry it); the app never sees it', async () => {
  const app = express();
  let reached = 0;
  // Verification only: nothing is fetched, the refusal comes first.
  app.use(expressMiddleware(createTessera({ issuer: 'http://127.0.0.1:9', routes: [{ pattern: '/', access: 'public' }] })));
  app.use((req, res) => { reached += 1; res.end('app'); });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const res = await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.address().port, path: '/', method: 'TRACE' }, (r) => {
        let body = '';
        r.on('data', (c) => { body += c; });
        r.on('end', () => resolve({ status: r.statusCode, allow: r.headers.allow, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 405);
    assert.match(res.allow, /\bGET\b/);
    assert.match(res.body, /TRACE requests are refused/);
    assert.equal(reached, 0);
    // A public route still reaches the app.
    const ok = await fetch(`http://127.0.0.1:${server.address().port}/`);
    assert.equal(await ok.text(), 'app');
    assert.equal(reached, 1);
  } finally {
    server.close();
  }
});

httpAppSuite('hono', async (tessera, port) => {
  const app = new Hono();
  const state = { posts: 0 };
  app.use(honoMiddleware(tessera));
  app.get('/', (c) => c.json({ user: c.get('tessera').identity?.sub ?? null }));
  app.get('/api/me', (c) => c.json(seen(c.get('tessera').identity, c.req.raw.headers)));
  app.post('/api/echo', async (c) => {
    state.posts += 1;
    const body = await c.req.json();
    return c.json({ user: c.get('tessera').identity.sub, received: JSON.stringify(body).length });
  });
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return { get posts() { return state.posts; }, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
});

describe("tessera-edge/next with next's NextRequest and NextResponse", { timeout: 120_000 }, () => {
  let idp;
  let tessera;
  let middleware;
  const jar = new Jar();
  const next = (path, headers = {}) => new NextRequest(new URL(path, APP), {
    headers: { ...(jar.cookies.size ? { cookie: jar.header() } : {}), 'sec-fetch-site': 'same-origin', ...headers },
  });
  /** The request headers Next gives the app after the middleware's `NextResponse.next({ request })`. */
  const overridden = (res) => new Headers(res.headers.get('x-middleware-override-headers').split(',')
    .map((name) => [name, res.headers.get(`x-middleware-request-${name}`)]));

  before(async () => {
    idp = await startIdp({ redirectOrigin: APP, accessTokenTtl: TTL });
    tessera = createTessera(config(idp.issuer, APP));
    middleware = nextMiddleware(tessera);
  });
  after(() => idp?.close());

  test('the middleware redirects pages to sign-in, answers 401 for APIs, and runs the sign-in', async () => {
    const page = await middleware(next('/dashboard', { 'sec-fetch-dest': 'document' }));
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/__tessera/sign-in?redirect_url=%2Fdashboard');
    assert.deepEqual(status(await middleware(next('/api/me'))), [401, 'signed-out', 'token-missing']);
    const start = await middleware(next('/__tessera/sign-in?redirect_url=%2Fapi%2Fme'));
    assert.equal(start.status, 302);
    jar.apply(start.headers);
    const callback = new URL(await login(start.headers.get('location')));
    const done = await middleware(next(callback.pathname + callback.search));
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/api/me');
    jar.apply(done.headers);
  });

  test('a signed-in request goes on with the identity headers Next passes to the app', async () => {
    const res = await middleware(next('/api/me', { 'x-tessera-user': 'mallory', cookie: `${jar.header()}; theme=dark` }));
    assert.equal(res.headers.get('x-middleware-next'), '1');
    assert.equal(res.headers.get('x-tessera-status'), 'signed-in');
    const app = overridden(res);
    assert.equal(app.get('x-tessera-user'), 'alice');
    assert.equal(app.get('cookie'), 'theme=dark');
    assert.match(app.get('authorization'), /^Bearer ey/);

    const GET = withAuth(tessera, (request, auth, context) => Response.json({ user: auth.identity.sub, id: context.params.id }));
    const ok = await GET(new NextRequest(new URL('/api/me', APP), { headers: app }), { params: { id: '7' } });
    assert.deepEqual([ok.status, await ok.json()], [200, { user: 'alice', id: '7' }]);
    const anonymous = await GET(new NextRequest(new URL('/api/me', APP)), { params: {} });
    assert.deepEqual(status(anonymous), [401, 'signed-out', 'token-missing']);
  });

  test('an expired session is refreshed in the middleware; the new cookies are on its response', async () => {
    await sleep((TTL + 1) * 1000);
    const refreshes = idp.counts.refresh;
    const res = await middleware(next('/api/me'));
    assert.equal(res.headers.get('x-middleware-next'), '1');
    assert.equal(res.headers.get('x-tessera-status'), 'refreshed');
    assert.equal(idp.counts.refresh - refreshes, 1);
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('tessera-session=')));
    assert.equal(overridden(res).get('x-tessera-user'), 'alice');
    jar.apply(res.headers);
    assert.equal((await middleware(next('/api/me'))).headers.get('x-tessera-status'), 'signed-in');
  });
});
