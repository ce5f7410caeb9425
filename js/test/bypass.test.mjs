// The route-bypass battery (docs/security.md, "The engine decides on the path
// the framework routes"), over raw HTTP on 127.0.0.1: request lines and Host
// values no Fetch client would send, written to the socket as bytes, against
// real apps: Express, Hono on @hono/node-server, and a plain Fetch handler
// (on @hono/node-server's listener, routing on `new URL(request.url)`).
// Next.js is driven through its own NextRequest objects (below: a `next
// build` costs minutes of CI per run and its routing of the URL is what
// NextRequest.nextUrl computes, which is what the adapter decides on).
//
// Every app has handlers for the protected paths, so a request that slips
// past Tessera gets a 200 from them: each attack must be answered by Tessera
// (400 path-invalid, 401) or refused by the server itself, or reach the app
// as a public path (@hono/node-server resolves `/admin/..` to `/` before
// anyone routes it, and then Hono and the engine both see `/`), never a
// protected handler.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { NextRequest } from 'next/server.js';
import { createTessera } from 'tessera-edge';
import { tesseraMiddleware as expressMiddleware } from 'tessera-edge/express';
import { tesseraMiddleware as honoMiddleware } from 'tessera-edge/hono';
import { tesseraMiddleware as nextMiddleware } from 'tessera-edge/next';

// A verification-only host (no provider is contacted: no request below
// carries a credential the engine would verify). A public default under
// protective rules is the configuration where a misread path is a bypass.
const PUBLIC_DEFAULT = {
  issuer: 'http://127.0.0.1:9',
  verification: { audience: 'api' },
  defaultAccess: 'public',
  routes: [
    { pattern: '/admin/**', access: 'page' },
    { pattern: '/api/**', access: 'api' },
    { pattern: '/hooks/**', access: 'public', passAuthorization: true },
    { pattern: '/cors-api/**', access: 'api', forwardPreflight: true },
  ],
};
// The protective default with broad public rules: `;` and dot segments.
const PAGE_DEFAULT = {
  issuer: 'http://127.0.0.1:9',
  routes: [
    { pattern: '/', access: 'public' },
    { pattern: '/public/**', access: 'public' },
    { pattern: '/**/*.css', access: 'public' },
  ],
};

const quiet = { onWarning: () => {} };

/** One HTTP/1.1 exchange written as raw bytes; resolves the status, headers and body. */
function raw(port, head, body = '') {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [top, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = top.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.end(Buffer.concat([Buffer.from(`${head}\r\nConnection: close\r\n\r\n`, 'latin1'), Buffer.from(body)]));
  });
}

/** What a handler saw, reported as JSON with the `x-app-reached` header. */
const report = (route, headers, extra = {}) => ({
  route,
  authorization: headers.authorization ?? null,
  cookie: headers.cookie ?? null,
  tessera: Object.keys(headers).filter((n) => n.startsWith('x-tessera-')),
  headerNames: Object.keys(headers),
  ...extra,
});

/** Attacks on protected paths under the public default: none may reach a handler. */
const PUBLIC_DEFAULT_ATTACKS = [
  // The Host header once built the engine's URL: `a?` made every path `/`.
  'GET /admin/users HTTP/1.1\r\nHost: a?',
  'GET /admin/users HTTP/1.1\r\nHost: a#',
  'GET /admin/users HTTP/1.1\r\nHost: evil.example/public',
  'GET /api/orders HTTP/1.1\r\nHost: a?x=',
  // Dot segments and empty segments: Express routes `/admin/..` to /admin/:view.
  'GET /admin/.. HTTP/1.1\r\nHost: app',
  'GET /admin/. HTTP/1.1\r\nHost: app',
  'GET /admin/%2e%2e HTTP/1.1\r\nHost: app',
  'GET /admin/%2E HTTP/1.1\r\nHost: app',
  'GET //admin/users HTTP/1.1\r\nHost: app',
  'GET /admin//users HTTP/1.1\r\nHost: app',
  // Case, trailing slash and HEAD: Express routes all of them to the handlers.
  'GET /ADMIN/users HTTP/1.1\r\nHost: app',
  'GET /Admin/Users/ HTTP/1.1\r\nHost: app',
  'GET /admin/users/ HTTP/1.1\r\nHost: app',
  'HEAD /admin/users HTTP/1.1\r\nHost: app',
  'GET /API/orders HTTP/1.1\r\nHost: app',
  // Absolute-form targets, and a URL in the query.
  'GET http://evil.example/admin/users HTTP/1.1\r\nHost: app',
  'GET /admin/users?next=https://evil.example/ HTTP/1.1\r\nHost: app',
  // Absolute forms that Node's url.parse (so Express) splits elsewhere.
  'GET javascript://admin/users HTTP/1.1\r\nHost: app',
  'GET http://x%2Fadmin/users HTTP/1.1\r\nHost: app',
  'GET http://x:admin/users HTTP/1.1\r\nHost: app',
  "GET http://x'/admin/users HTTP/1.1\r\nHost: app",
  'GET http://x\\admin/users HTTP/1.1\r\nHost: app',
  // A preflight-shaped request to a protected path: no handler may run.
  'OPTIONS /admin/users HTTP/1.1\r\nHost: app\r\nAccess-Control-Request-Method: GET',
  'OPTIONS /api/orders HTTP/1.1\r\nHost: app\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: DELETE',
  // A fragment, and encodings the engine must not decode into structure.
  'GET /admin/users#/../../public HTTP/1.1\r\nHost: app',
  'GET /public%2F..%2Fadmin/users HTTP/1.1\r\nHost: app',
  'GET /admin/%252e%252e HTTP/1.1\r\nHost: app',
];

/** A request answered by the app must have reached a public path only. */
function assertNotProtected(res, line) {
  const reached = res.headers['x-app-reached'];
  if (reached === undefined) return;
  const [route, path] = reached.split(' ');
  assert.ok(!/^\/(admin|api)\b/i.test(path) && !/^\/(admin|api)/.test(route), `${line} reached ${reached}: ${res.body}`);
}

/** The apps under test: each has handlers on the protected paths. */
const APPS = {
  async express(config) {
    const app = express();
    app.use(expressMiddleware(createTessera(config, quiet)));
    const reply = (route) => (req, res) => {
      res.set('x-app-reached', `${route} ${req.path}`);
      res.set('cache-control', 'public, max-age=600');
      res.json(report(route, req.headers, {
        rawAuthorization: req.rawHeaders.some((h) => h.toLowerCase() === 'authorization'),
        rawTessera: req.rawHeaders.some((h) => h.toLowerCase().startsWith('x-tessera-')),
        distinct: Object.keys(req.headersDistinct).filter((n) => n === 'authorization' || n.startsWith('x-tessera-')),
        contentLength: req.headers['content-length'] ?? null,
      }));
    };
    app.all('/admin/users', reply('/admin/users'));
    app.all('/admin/:view', reply('/admin/:view'));
    app.all('/api/:name', reply('/api/:name'));
    app.all('/{*rest}', reply('*'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { port: server.address().port, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
  },
  async hono(config) {
    const app = new Hono();
    app.use(honoMiddleware(createTessera(config, quiet)));
    const reply = (route) => (c) => {
      c.header('x-app-reached', `${route} ${c.req.path}`);
      const incoming = Object.keys(c.env.incoming.headers).filter((n) => n === 'authorization' || n.replaceAll('_', '-').startsWith('x-tessera-'));
      return c.json(report(route, Object.fromEntries(c.req.raw.headers), { incoming }));
    };
    app.all('/admin/users', reply('/admin/users'));
    app.all('/admin/:view', reply('/admin/:view'));
    app.all('/api/:name', reply('/api/:name'));
    app.all('*', reply('*'));
    return listen(app.fetch);
  },
  async fetch(config) {
    const tessera = createTessera(config, quiet);
    return listen(async (request) => {
      const t = await tessera;
      const auth = await t.authenticateRequest(request);
      if (auth.response) return auth.response;
      const forwarded = t.forwardRequest(request, auth);
      const { pathname } = new URL(forwarded.url);
      const body = report(pathname, Object.fromEntries(forwarded.headers));
      return Response.json(body, { headers: { 'x-app-reached': `${pathname} ${pathname}` } });
    });
  },
};

async function listen(fetch) {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return { port: server.address().port, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
}

for (const [name, start] of Object.entries(APPS)) {
  describe(`route bypasses over raw HTTP: ${name}`, { timeout: 60_000 }, () => {
    let publicDefault;
    let pageDefault;
    before(async () => {
      publicDefault = await start(PUBLIC_DEFAULT);
      pageDefault = await start(PAGE_DEFAULT);
    });
    after(async () => {
      await publicDefault?.close();
      await pageDefault?.close();
    });

    test('no spelling of a protected path reaches its handler', async () => {
      for (const attack of PUBLIC_DEFAULT_ATTACKS) {
        const res = await raw(publicDefault.port, attack);
        const line = attack.split('\r\n')[0];
        assertNotProtected(res, line);
        if (!res.headers['x-app-reached']) assert.ok([204, 400, 401].includes(res.status), `${line}: ${res.status} ${res.headers['x-tessera-reason']}`);
      }
    });

    test('a non-ASCII byte in the target never reaches a handler', async () => {
      const socketBytes = Buffer.concat([Buffer.from('GET /admin'), Buffer.from([0xa0]), Buffer.from('/users HTTP/1.1\r\nHost: app')]);
      const res = await raw(publicDefault.port, socketBytes.toString('latin1'));
      assertNotProtected(res, 'GET /admin\\xa0/users');
      if (!res.headers['x-app-reached']) assert.ok(res.status >= 400, `${res.status}`);
    });

    test('path parameters and dot segments cannot turn a protected path public', async () => {
      for (const target of ['/admin/users;.css', '/admin/users%3B.css', '/public/..;/admin', '/public/../admin', '/public/%2e%2e/admin']) {
        const res = await raw(pageDefault.port, `GET ${target} HTTP/1.1\r\nHost: app`);
        assert.equal(res.headers['x-app-reached'], undefined, `${target} reached the app: ${res.body}`);
        // 400 where the engine sees the raw path; 401 where the server
        // resolved the dot segments first (both then see /admin).
        assert.ok([400, 401].includes(res.status), `${target}: ${res.status}`);
      }
      const css = await raw(pageDefault.port, 'GET /site/main.css HTTP/1.1\r\nHost: app');
      assert.equal(css.status, 200);
    });

    test('legitimate encodings still reach the app', async () => {
      for (const target of ['/caf%C3%A9', '/a%20b', '/search?q=https://example.com/x']) {
        const res = await raw(publicDefault.port, `GET ${target} HTTP/1.1\r\nHost: app`);
        assert.equal(res.status, 200, `${target}: ${res.body}`);
        assert.ok(res.headers['x-app-reached'], target);
      }
    });

    test('an unverified Authorization or a spoofed identity never reaches the app', async () => {
      const res = await raw(publicDefault.port, 'GET /somewhere HTTP/1.1\r\nHost: app\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nX-Tessera-User: admin\r\nx-tessera-claims: e30\r\nX_Tessera_Org: org_evil');
      assert.equal(res.status, 200, res.body);
      const seen = JSON.parse(res.body);
      assert.equal(seen.authorization, null);
      assert.deepEqual(seen.tessera, []);
      assert.ok(!seen.headerNames.some((n) => n.replaceAll('_', '-').startsWith('x-tessera-')), seen.headerNames.join());
      if (name === 'express') {
        assert.equal(seen.rawAuthorization, false, 'req.rawHeaders');
        assert.equal(seen.rawTessera, false, 'req.rawHeaders');
        assert.deepEqual(seen.distinct, [], 'req.headersDistinct');
      }
      if (name === 'hono') assert.deepEqual(seen.incoming, [], 'c.env.incoming.headers');
      // A route that takes its own credentials (a webhook) keeps them.
      const hook = await raw(publicDefault.port, 'POST /hooks/deploy HTTP/1.1\r\nHost: app\r\nAuthorization: Basic aG9vazpzM2NyZXQ=\r\nContent-Length: 0');
      assert.equal(JSON.parse(hook.body).authorization, 'Basic aG9vazpzM2NyZXQ=');
    });

    test('a CORS preflight reaches the app only where the route forwards them, bare', async () => {
      const body = '{"x":1}';
      const preflight = (target) => raw(
        publicDefault.port,
        `OPTIONS ${target} HTTP/1.1\r\nHost: app\r\nOrigin: https://spa.example\r\nAccess-Control-Request-Method: DELETE\r\nAuthorization: Bearer a.b.c\r\nCookie: theme=dark\r\nContent-Type: application/json\r\nContent-Length: ${body.length}`,
        body,
      );
      const answered = await preflight('/api/orders');
      assert.equal(answered.status, 204);
      assert.equal(answered.headers['x-app-reached'], undefined);
      assert.equal(answered.headers['access-control-allow-origin'], undefined);
      for (const target of ['/cors-api/orders', '/somewhere']) {
        const res = await preflight(target);
        assert.equal(res.status, 200, `${target}: ${res.body}`);
        const seen = JSON.parse(res.body);
        assert.equal(seen.authorization, null, target);
        assert.equal(seen.cookie, null, target);
        if (name === 'express') assert.equal(seen.contentLength, null, target);
      }
    });
  });
}

describe('route bypasses: Express specifics', { timeout: 60_000 }, () => {
  const servers = [];
  const start = async (app) => {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers.push(server);
    return server.address().port;
  };
  after(() => { for (const s of servers) { s.closeAllConnections(); s.close(); } });

  test('express.static and RegExp routes see the path the engine decided on', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-static-'));
    fs.mkdirSync(path.join(root, 'admin'));
    fs.writeFileSync(path.join(root, 'admin', 'secret.html'), 'TOP SECRET');
    for (const config of [PUBLIC_DEFAULT, PAGE_DEFAULT]) {
      const app = express();
      app.use(expressMiddleware(createTessera(config, quiet)));
      app.get(/\/admin\/reports$/, (req, res) => res.send('ADMIN REPORTS'));
      app.use(express.static(root));
      const port = await start(app);
      for (const target of ['javascript://admin/secret.html', 'http://x%2Fadmin/secret.html', 'http://x%2Fadmin%2Fsecret.html?', 'javascript://admin%2Fsecret.html', 'javascript://admin/reports', 'http://x:admin/reports', 'http://x\\admin/secret.html', '/admin/secret.html', '/ADMIN/Secret.html']) {
        const res = await raw(port, `GET ${target} HTTP/1.1\r\nHost: app`);
        assert.ok(!/TOP SECRET|ADMIN REPORTS/.test(res.body), `${target} (${config.defaultAccess ?? 'page'} default): ${res.status} ${res.body}`);
      }
    }
  });

  test('a URL rewritten before Tessera, or a mounted sub-app, cannot make a protected path public', async () => {
    const admin = (req, res) => res.send(`ADMIN ${req.auth?.identity?.sub ?? 'none'}`);
    const rewriting = express();
    rewriting.use((req, res, next) => { req.url = req.url.replace(/^\/(en|fr)\//, '/'); next(); });
    rewriting.use(expressMiddleware(createTessera(PUBLIC_DEFAULT, quiet)));
    rewriting.get('/admin/users', admin);
    rewriting.get('/{*rest}', (req, res) => res.send('PUBLIC'));
    const mounted = express();
    const sub = express();
    sub.use(expressMiddleware(createTessera(PUBLIC_DEFAULT, quiet)));
    sub.get('/admin/users', admin);
    sub.get('/{*rest}', (req, res) => res.send('PUBLIC'));
    mounted.use('/app', sub);
    for (const [port, target] of [[await start(rewriting), '/en/admin/users'], [await start(mounted), '/app/admin/users']]) {
      const res = await raw(port, `GET ${target} HTTP/1.1\r\nHost: app`);
      assert.ok(!res.body.startsWith('ADMIN'), `${target}: ${res.status} ${res.body}`);
      assert.equal(res.status, 400, target);
      assert.equal(res.headers['x-tessera-reason'], 'path-invalid');
    }
    const ok = await raw(servers[servers.length - 2].address().port, 'GET /en/pricing HTTP/1.1\r\nHost: app');
    assert.equal(ok.body, 'PUBLIC');
  });
});

describe('route bypasses: Next.js, through NextRequest', () => {
  const nextConfig = { ...PUBLIC_DEFAULT };
  let middleware;
  before(() => { middleware = nextMiddleware(createTessera(nextConfig, quiet)); });
  const reached = (res) => res.headers.get('x-middleware-next') === '1';

  test('a data request is decided as its page', async () => {
    const res = await middleware(new NextRequest('http://app.example/_next/data/build-1/admin/users.json'));
    assert.equal(reached(res), false);
    assert.equal(res.status, 401);
  });

  test('spellings Next routes to a protected page are protected', async () => {
    for (const url of ['http://app.example/admin/users/', 'http://app.example/ADMIN/users', 'http://app.example/x/../admin/users', 'http://app.example/admin/users?next=https://evil.example']) {
      const res = await middleware(new NextRequest(url));
      assert.equal(reached(res), false, url);
      assert.ok([400, 401].includes(res.status), `${url}: ${res.status}`);
    }
  });

  test('an unverified Authorization is not among the headers Next passes on', async () => {
    const res = await middleware(new NextRequest('http://app.example/somewhere', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=', 'x-tessera-user': 'admin' } }));
    assert.equal(reached(res), true);
    const passed = res.headers.get('x-middleware-override-headers').split(',');
    assert.ok(!passed.includes('authorization'), passed.join());
    assert.ok(!passed.some((n) => n.startsWith('x-tessera-')), passed.join());
  });
});
