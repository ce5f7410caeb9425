// The whole session in a real browser: headless Chromium signs in through the
// provider's own pages, keeps its cookies, refreshes in three tabs at once, is
// protected from cross-origin POSTs and signs out. The app is reached as
// http://localhost:<port> with the default cookie settings (`__Host-` names,
// Secure, HttpOnly, SameSite=Lax): Chromium treats localhost as a secure context,
// so these are the production cookies, not a dev-mode variant.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack, sleep } from '../e2e/stack.mjs';
import { CLIENT_ID } from '../e2e/idp.mjs';
import { launch } from './chromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(root, 'target', 'test-artifacts');
const TTL = 5;
const NAMES = ['__Host-tessera-session', '__Host-tessera-refresh'];

/** A page on another origin that POSTs a form to the app as soon as it loads. */
async function startAttacker(target) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><title>win a prize</title>
      <form id="f" method="post" action="${target}"><input name="amount" value="1000"></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** Clicks through the provider's login and consent pages as `user`. */
async function providerLogin(page, user) {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', 'correct horse');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button:has-text("Continue")');
  await page.click('button:has-text("Continue")');
}

const msUntilPast = (exp) => Math.max(0, exp + 1 - Date.now() / 1000) * 1000;

/** Calls the protected API from inside a page, with the browser's cookies. */
const callApi = (page) => page.evaluate(async () => {
  const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
  return { status: res.status, tessera: res.headers.get('x-tessera-status'), reason: res.headers.get('x-tessera-reason'), body: await res.json().catch(() => null) };
});

describe('the demo in headless Chromium', { timeout: 180_000 }, () => {
  let stack;
  let browser;
  let dashboard;

  before(async () => {
    stack = await startStack({ origin: 'demo', appHost: 'localhost', accessTokenTtl: TTL, config: {} });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  const cookiesByName = async () => new Map((await browser.context.cookies(stack.app)).map((c) => [c.name, c]));

  test('sign in through the provider lands on the dashboard with the promised cookies', async () => {
    const page = await browser.context.newPage();
    dashboard = page;
    const txCookies = [];
    page.on('response', (res) => {
      if (new URL(res.url()).pathname === '/__tessera/sign-in') txCookies.push(res.headerValue('set-cookie'));
    });
    await page.goto(`${stack.app}/`);
    await page.click('#sign-in');
    await providerLogin(page, 'alice');
    await page.waitForURL(`${stack.app}/dashboard`);

    assert.equal(await page.textContent('#identity-user'), 'alice');
    assert.match(await page.textContent('#identity-scopes'), /openid.*offline_access/s);
    assert.equal(await page.locator('#refresh-log li').count(), 1);

    // The sign-in transaction cookie went out with Lax, so the provider's
    // cross-site redirect back to the callback carried it (the callback checked it).
    assert.equal(txCookies.length, 1);
    assert.match(await txCookies[0], /^__Host-tessera-tx=[^;]+; Max-Age=600; Path=\/; Secure; HttpOnly; SameSite=Lax$/);

    const jar = await cookiesByName();
    assert.deepEqual([...jar.keys()].filter((n) => n.startsWith('__Host-')).sort(), [...NAMES].sort(),
      'session and refresh cookies stored; the transaction cookie is gone');
    for (const name of NAMES) {
      const c = jar.get(name);
      assert.equal(c.httpOnly, true, `${name} HttpOnly`);
      assert.equal(c.secure, true, `${name} Secure`);
      assert.equal(c.sameSite, 'Lax', `${name} SameSite`);
      assert.equal(c.path, '/', `${name} Path`);
      assert.equal(c.domain, 'localhost', `${name} is a host-only cookie (no Domain)`);
      assert.ok(c.expires > Date.now() / 1000 + 29 * 86_400, `${name} persists for the session lifetime`);
    }
    assert.equal(await page.evaluate(() => document.cookie), '', 'page scripts cannot read the session');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png') });
  });

  test('past the token lifetime the API call succeeds and the log shows a new token, no redirect', async () => {
    const page = dashboard;
    const exp = Number(await page.getAttribute('body', 'data-expires-at'));
    let navigations = 0;
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });
    const refreshes = stack.idp.counts.refresh;

    await sleep(msUntilPast(exp));
    await page.click('#call-api');
    await page.waitForFunction(() => /^\d{3}/.test(document.getElementById('api-status').textContent));

    assert.match(await page.textContent('#api-status'), /^200 OK/);
    assert.equal(JSON.parse(await page.textContent('#api-body')).user, 'alice');
    const log = await page.$$eval('#refresh-log li', (items) => items.map((li) => ({ label: li.querySelector('.tag').textContent, iat: Number(li.dataset.iat), exp: Number(li.dataset.exp) })));
    assert.ok(log.length >= 2, `a refresh is logged: ${JSON.stringify(log)}`);
    assert.equal(log[0].label, 'refreshed');
    assert.ok(log[0].exp > exp && log[0].exp > Date.now() / 1000, 'the newest token is live');
    assert.ok(stack.idp.counts.refresh > refreshes, 'the provider issued the new token');
    assert.equal(navigations, 0, 'the page never left /dashboard');
    assert.equal(page.url(), `${stack.app}/dashboard`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-refreshed.png'), fullPage: true });
  });

  test('three tabs with an expired token: one refresh at the provider, all succeed, the session survives', async () => {
    await dashboard.goto(`${stack.app}/`); // stop the dashboard's polling
    const tabs = [dashboard, await browser.context.newPage(), await browser.context.newPage()];
    await Promise.all(tabs.slice(1).map((t) => t.goto(`${stack.app}/`)));
    const session = await dashboard.evaluate(() => fetch('/__tessera/session').then((r) => r.json()));
    const refused = stack.idp.counts.refreshRefused;

    for (let round = 1; round <= 2; round += 1) {
      const exp = round === 1 ? session.expiresAt : (await dashboard.evaluate(() => fetch('/__tessera/session').then((r) => r.json()))).expiresAt;
      await sleep(msUntilPast(exp));
      const before = stack.idp.counts.refresh;
      const results = await Promise.all(tabs.map(callApi));
      for (const r of results) {
        assert.equal(r.status, 200, JSON.stringify(r));
        assert.equal(r.body.user, 'alice');
      }
      assert.equal(stack.idp.counts.refresh - before, 1, `round ${round}: one refresh reached the provider`);
      assert.ok(results.some((r) => r.tessera === 'refreshed'));
    }
    // Round 2 refreshed with the token round 1 rotated in: no reuse was detected.
    assert.equal(stack.idp.counts.refreshRefused, refused, 'the provider refused no refresh (no reuse detected)');
    const after = await Promise.all(tabs.map(callApi));
    assert.deepEqual(after.map((r) => r.tessera), ['signed-in', 'signed-in', 'signed-in']);
    for (const t of tabs.slice(1)) await t.close();
  });

  test('cross-origin POSTs to a protected API never reach the app', async () => {
    const attacker = await startAttacker(`${stack.app}/api/transfer`);
    /** Opens the attacker's page in a new tab and returns the worker's answer to its POST. */
    const attack = async (url) => {
      const page = await browser.context.newPage();
      const answer = page.waitForResponse((r) => r.url() === `${stack.app}/api/transfer`);
      await page.goto(url, { waitUntil: 'commit' });
      const res = await answer;
      const out = { status: res.status(), reason: res.headers()['x-tessera-reason'], method: res.request().method() };
      // Not closed: closing a tab right after a same-site form POST stalls
      // Chromium's tab close for seconds; the tabs go with the browser.
      return out;
    };
    try {
      // Same site, another origin (another port on localhost): the browser sends the
      // SameSite=Lax cookies, so the worker's CSRF gate refuses it (the gate runs
      // only on cookie-authenticated requests: a 403 means the cookie was there).
      assert.deepEqual(await attack(`http://localhost:${attacker.port}/`), { status: 403, reason: 'csrf-rejected', method: 'POST' });
      // Another site (127.0.0.1 is not localhost): the browser withholds the cookies.
      assert.deepEqual(await attack(`http://127.0.0.1:${attacker.port}/`), { status: 401, reason: 'token-missing', method: 'POST' });
      assert.deepEqual(stack.origin.received, [], 'the app received no transfer');
    } finally {
      await attacker.close();
    }
    const res = await dashboard.evaluate(() => fetch('/api/transfer', { method: 'POST', body: 'amount=1' }).then((r) => r.status));
    assert.equal(res, 200, 'the app itself can still POST');
    assert.deepEqual(stack.origin.received.map((r) => r.user), ['alice']);
  });

  test('sign out clears the cookies, revokes the refresh token and protects the dashboard again', async () => {
    const page = dashboard;
    await page.goto(`${stack.app}/dashboard`);
    const old = await browser.context.cookies(stack.app);
    const oldExp = Number(await page.getAttribute('body', 'data-expires-at'));
    const revocations = stack.idp.counts.revocations;
    await page.click('#sign-out');
    await page.waitForSelector('button:has-text("Yes, sign me out")');
    await page.click('button:has-text("Yes, sign me out")');
    await page.waitForURL(`${stack.app}/`);
    await page.waitForSelector('#sign-in');

    assert.deepEqual((await browser.context.cookies(stack.app)).filter((c) => c.name.startsWith('__Host-tessera')), []);
    assert.equal(stack.idp.counts.revocations, revocations + 1, 'the provider revoked the grant');

    await page.goto(`${stack.app}/dashboard`);
    assert.ok(page.url().startsWith(`${stack.idp.issuer}/`), `redirected to the provider to sign in: ${page.url()}`);
    assert.equal(await page.locator('input[name="login"]').count(), 1);

    // Put the old cookies back (as a thief who copied them would): they are
    // refused at once (the sign-out is revoked in the store), and past the old
    // access token's expiry no refresh succeeds for them.
    const refreshes = stack.idp.counts.refresh;
    const copied = old.filter((c) => NAMES.includes(c.name)).map((c) => `${c.name}=${c.value}`).join('; ');
    const direct = await fetch(`${stack.app}/api/me`, { headers: { cookie: copied, accept: 'application/json' } });
    assert.deepEqual([direct.status, direct.headers.get('x-tessera-reason')], [401, 'session-revoked']);
    await browser.context.addCookies(old.filter((c) => NAMES.includes(c.name)));
    await page.goto(`${stack.app}/`);
    await sleep(msUntilPast(oldExp));
    await browser.context.addCookies(old.filter((c) => NAMES.includes(c.name)));
    const res = await callApi(page);
    assert.equal(res.status, 401, JSON.stringify(res));
    assert.equal(stack.idp.counts.refresh, refreshes, 'no refresh succeeded for the copy');
  });
});

describe('chunked session cookies in headless Chromium', { timeout: 120_000 }, () => {
  // 60 permissions of 48 bytes make a ~4.5 KB access token: its sealed cookie
  // does not fit one browser cookie (4 KB), so it is stored in chunks.
  const permissions = Array.from({ length: 60 }, (_, i) => `org:feature_${String(i).padStart(3, '0')}:${'read'.padEnd(30, '_')}`);
  let big = true;
  let stack;
  let browser;

  before(async () => {
    stack = await startStack({ origin: 'demo', appHost: 'localhost', accessTokenTtl: TTL, accessTokenClaims: () => (big ? { permissions } : {}) });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  const sessionCookies = async () => (await browser.context.cookies(stack.app))
    .filter((c) => c.name.startsWith('__Host-tessera-session'))
    .map((c) => ({ name: c.name, size: c.name.length + c.value.length }))
    .sort((a, b) => a.name.localeCompare(b.name));

  test('a session stored in chunks signs in, then shrinks to one cookie and grows back on refresh', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.app}/dashboard`);
    await providerLogin(page, 'bob');
    await page.waitForURL(`${stack.app}/dashboard`);
    assert.equal(await page.textContent('#identity-user'), 'bob');

    let jar = await sessionCookies();
    assert.deepEqual(jar.map((c) => c.name), ['__Host-tessera-session.0', '__Host-tessera-session.1'], 'the browser kept every chunk');
    for (const c of jar) assert.ok(c.size <= 4096, `${c.name} fits a browser cookie (${c.size} bytes)`);
    await page.goto(`${stack.app}/`);

    // The next token is small: one whole cookie, and the chunks are deleted.
    big = false;
    let exp = (await page.evaluate(() => fetch('/__tessera/session').then((r) => r.json()))).expiresAt;
    await sleep(msUntilPast(exp));
    let res = await callApi(page);
    assert.deepEqual([res.status, res.tessera, res.body.user], [200, 'refreshed', 'bob']);
    jar = await sessionCookies();
    assert.deepEqual(jar.map((c) => c.name), ['__Host-tessera-session'], 'no stale chunk left behind');
    assert.equal((await callApi(page)).tessera, 'signed-in');

    // And back to chunks: the whole cookie is deleted.
    big = true;
    exp = (await page.evaluate(() => fetch('/__tessera/session').then((r) => r.json()))).expiresAt;
    await sleep(msUntilPast(exp));
    res = await callApi(page);
    assert.deepEqual([res.status, res.tessera], [200, 'refreshed']);
    jar = await sessionCookies();
    assert.deepEqual(jar.map((c) => c.name), ['__Host-tessera-session.0', '__Host-tessera-session.1']);
    assert.equal((await callApi(page)).tessera, 'signed-in');
  });
});

describe('an ID-token session with opaque access tokens in headless Chromium', { timeout: 120_000 }, () => {
  // oidc-provider without resource indicators: its access tokens are opaque.
  let stack;
  let browser;

  before(async () => {
    stack = await startStack({
      origin: 'demo',
      appHost: 'localhost',
      accessTokenTtl: TTL,
      opaque: true,
      config: {
        resources: [],
        session: { identity: 'id-token' },
        verification: { algorithms: ['ES256'], leeway: 0 },
        routes: [{ pattern: '/', access: 'public' }, { pattern: '/assets/**', access: 'public' }, { pattern: '/api/**', access: 'api', bearer: false }],
      },
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('signs in through the provider, serves the dashboard, and refreshes past expiry', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.app}/dashboard`);
    await providerLogin(page, 'carol');
    await page.waitForURL(`${stack.app}/dashboard`);
    assert.equal(await page.textContent('#identity-user'), 'carol');
    const session = await page.evaluate(() => fetch('/__tessera/session').then((r) => r.json()));
    assert.equal(session.signedIn, true);
    assert.equal(session.identity.alg, 'ES256', 'the identity is the ID token\'s');
    assert.deepEqual(session.identity.aud, [CLIENT_ID]);
    await sleep(msUntilPast(session.expiresAt));
    // The dashboard polls the session, so its own request may be the one
    // that refreshed: either way the API answers, and the session is new.
    const res = await callApi(page);
    assert.equal(res.status, 200);
    assert.equal(res.body.user, 'carol');
    const renewed = await page.evaluate(() => fetch('/__tessera/session').then((r) => r.json()));
    assert.ok(renewed.expiresAt > session.expiresAt, 'refreshed past the first access token');
  });
});
