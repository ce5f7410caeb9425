// The demo's origin app: the application Tessera protects. It never sees a
// cookie or verifies a token; it renders what the worker forwarded
// (x-tessera-user, -session, -org, -claims). Serves on 127.0.0.1 only.
//
//   GET  /              landing page (public; shows the user when signed in)
//   GET  /dashboard     who is signed in, the token's countdown, the refresh log
//   GET  /assets/*      the pages' CSS and JS (public)
//   GET  /api/me        the forwarded identity as JSON
//   POST /api/transfer  a state-changing API call (what CSRF would target)
//   POST /api/sign-out-everywhere  ends the user's sessions on every browser and
//                       device: the app's back end calls the worker's revoke
//                       endpoint with its secret (never the browser)
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pages = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pages');
const types = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.png': 'image/png' };

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The identity the worker forwarded, from the request headers (none when anonymous). */
export function forwardedIdentity(headers) {
  const user = headers['x-tessera-user'];
  if (!user) return null;
  let claims = {};
  try {
    claims = JSON.parse(Buffer.from(headers['x-tessera-claims'] ?? '', 'base64url').toString('utf8'));
  } catch {
    // The worker always sends valid JSON; an absent header leaves the claims empty.
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return {
    user: decodeURIComponent(user),
    session: headers['x-tessera-session'] ? decodeURIComponent(headers['x-tessera-session']) : null,
    org: headers['x-tessera-org'] ? decodeURIComponent(headers['x-tessera-org']) : null,
    scopes,
    issuedAt: claims.iat ?? null,
    expiresAt: claims.exp ?? null,
    claims,
  };
}

async function render(name, values) {
  const html = await readFile(path.join(pages, name), 'utf8');
  return html.replace(/\{\{(\w+)\}\}/g, (_, key) => values[key] ?? '');
}

/**
 * Starts the demo origin on 127.0.0.1:`port` (0 picks one). `received` lists every
 * state-changing API call that reached it, so tests can prove one never did.
 * `revoke`: `{ url, secret }` of the worker's revoke endpoint.
 */
export async function startDemoOrigin(port = 0, revoke = undefined) {
  const received = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://origin.invalid');
    const identity = forwardedIdentity(req.headers);
    const send = (status, type, body) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (status, value) => send(status, 'application/json', JSON.stringify(value));
    try {
      if (req.method === 'GET' && url.pathname.startsWith('/assets/')) {
        const file = path.basename(url.pathname);
        const type = types[path.extname(file)];
        if (!type) return send(404, 'text/plain', 'not found');
        return send(200, type, await readFile(path.join(pages, file)).catch(() => null) ?? '');
      }
      if (req.method === 'GET' && url.pathname === '/') {
        const body = identity
          ? `<p class="lead">Signed in as <strong>${escape(identity.user)}</strong>.</p>
             <a class="button" href="/dashboard">Open the dashboard</a>`
          : `<p class="lead">Sign in with the demo provider: any user name, any password.</p>
             <a class="button" id="sign-in" href="/__tessera/sign-in?redirect_url=%2Fdashboard">Sign in</a>`;
        return send(200, 'text/html; charset=utf-8', await render('landing.html', { body }));
      }
      if (req.method === 'GET' && url.pathname === '/dashboard') {
        // The worker only forwards this page with a verified identity; an origin
        // reached directly (no worker) has none and says so.
        if (!identity) return send(401, 'text/plain', 'no identity forwarded: reach this app through Tessera');
        const chips = identity.scopes.map((s) => `<span class="chip">${escape(s)}</span>`).join('') || '—';
        return send(200, 'text/html; charset=utf-8', await render('dashboard.html', {
          user: escape(identity.user),
          session: escape(identity.session ?? '—'),
          org: escape(identity.org ?? '—'),
          scopes: chips,
          issuer: escape(identity.claims.iss ?? '—'),
          audience: escape([identity.claims.aud].flat().join(', ') || '—'),
          expiresAt: escape(identity.expiresAt ?? ''),
          issuedAt: escape(identity.issuedAt ?? ''),
        }));
      }
      if (url.pathname.startsWith('/api/')) {
        if (!identity) return json(401, { error: 'no identity forwarded' });
        if (req.method === 'GET' && url.pathname === '/api/me') {
          const { claims, ...rest } = identity;
          return json(200, { ...rest, tokenId: claims.jti ?? null });
        }
        if (req.method === 'POST' && url.pathname === '/api/sign-out-everywhere' && revoke) {
          const res2 = await fetch(revoke.url, {
            method: 'POST',
            headers: { authorization: `Bearer ${revoke.secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ sub: identity.user }),
          });
          if (!res2.ok) return json(502, { error: 'the revoke endpoint answered', status: res2.status });
          res.writeHead(303, { location: '/', 'cache-control': 'no-store' });
          return res.end();
        }
        if (req.method === 'POST' && url.pathname === '/api/transfer') {
          let body = '';
          for await (const chunk of req) body += chunk;
          received.push({ user: identity.user, body });
          return json(200, { ok: true, user: identity.user });
        }
        return json(404, { error: 'no such API route' });
      }
      return send(404, 'text/plain', 'not found');
    } catch (e) {
      return send(500, 'text/plain', String(e));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
