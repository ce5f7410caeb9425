// The demo's driver: starts the stack (tests/e2e/stack.mjs) on fixed ports and
// either serves it or walks through a session from the terminal.
import { startStack, Browser, sleep } from '../tests/e2e/stack.mjs';

const walkthrough = process.argv.includes('--walkthrough');
const ttl = 8;
const stack = await startStack({
  port: Number(process.env.TESSERA_DEMO_PORT ?? 8787),
  accessTokenTtl: ttl,
  // Plain http on 127.0.0.1: cookies without the __Host-/Secure requirements.
  config: { cookies: { prefix: 'tessera', secure: false } },
  workerLog: walkthrough ? 'off' : 'all',
  origin: 'demo',
});

const bold = (s) => `\x1b[1m${s}\x1b[0m`;
const show = (n, what, res, extra = '') => {
  const status = res.headers.get('x-tessera-status');
  const reason = res.headers.get('x-tessera-reason');
  console.log(`${bold(`${n}.`)} ${what}\n   → ${res.status} · x-tessera-status: ${status}${reason ? ` · x-tessera-reason: ${reason}` : ''}${extra}`);
};

if (!walkthrough) {
  console.log(`
Tessera is protecting the demo app. Open ${bold(`${stack.app}/`)} in a browser.
  /            landing page (public), with a Sign in button
  /dashboard   who is signed in, the token's countdown, the refresh log, an API button
  /api/me      protected API: 401 without a session
The provider (${stack.idp.issuer}) accepts ${bold('any login and any password')}, e.g. alice / secret.
Access tokens live ${ttl} s, so you will see refreshes. Ctrl-C stops everything.
`);
  const stop = async () => { await stack.close(); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  try {
    const b = new Browser(stack.app);
    console.log(`Provider ${stack.idp.issuer} · worker ${stack.app} · origin ${stack.origin.url}\n`);
    let res = await b.fetch('/dashboard', { headers: { 'sec-fetch-dest': 'document' } });
    show(1, 'GET /dashboard as a stranger (a page navigation)', res, ` · location: ${res.headers.get('location')}`);

    res = await b.signIn('/dashboard', 'alice');
    show(2, 'sign-in: /__tessera/sign-in → provider login as alice → /__tessera/callback', res,
      ` · cookies: ${[...b.cookies.keys()].join(', ')}`);

    res = await b.fetch('/api/me');
    const me = await res.json();
    show(3, 'GET /api/me with the session', res, `\n   the origin saw user ${me.user}, scopes ${me.scopes.join(' ')}, token expiring at ${new Date(me.expiresAt * 1000).toISOString()}`);

    res = await b.fetch('/api/me', { headers: { 'x-tessera-user': 'admin' } });
    show(4, 'GET /api/me with a spoofed x-tessera-user: admin', res, `\n   the origin saw user ${(await res.json()).user}`);

    console.log(`\n   … waiting ${ttl + 1} s for the access token to expire …\n`);
    await sleep((ttl + 1) * 1000);
    const before = stack.idp.counts.refresh;
    res = await b.fetch('/api/me');
    show(5, 'GET /api/me after expiry', res, ` · refreshes at the provider: ${stack.idp.counts.refresh - before} · new cookies: ${res.headers.getSetCookie().filter((c) => c.startsWith('tessera-')).length}`);

    res = await b.fetch('/api/transfer', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
    show(6, 'a cross-site POST /api/transfer with the session cookie', res);

    const copy = b.header();
    res = await b.fetch('/__tessera/sign-out', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    show(7, 'POST /__tessera/sign-out', res, ` · revoked at the provider: ${stack.idp.counts.revocations} · location: ${res.headers.get('location').split('?')[0]}`);

    res = await b.fetch('/api/me');
    show(8, 'GET /api/me after sign-out', res, ` · www-authenticate: ${res.headers.get('www-authenticate')}`);

    res = await b.fetch('/api/me', { headers: { cookie: copy } });
    show(9, 'GET /api/me with a copy of the cookies taken before sign-out', res);

    const laptop = new Browser(stack.app);
    const phone = new Browser(stack.app);
    await laptop.signIn('/dashboard', 'bob');
    await phone.signIn('/dashboard', 'bob');
    res = await laptop.fetch('/api/sign-out-everywhere', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    show(10, 'bob, signed in on a laptop and a phone, signs out everywhere from the laptop', res, ` · location: ${res.headers.get('location')}`);
    res = await phone.fetch('/api/me');
    show(11, 'GET /api/me from the phone', res);
  } finally {
    await stack.close();
  }
}
