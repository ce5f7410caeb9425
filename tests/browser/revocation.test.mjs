// Sessions that end everywhere, in headless Chromium against the demo (the
// worker in workerd with its RevocationStore Durable Object): signing out in
// one tab refuses the other tab's next API call; "Sign out everywhere" on a
// laptop ends the same user's session on a phone (another browser).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../e2e/stack.mjs';
import { launch } from './chromium.mjs';

async function signIn(browser, app, user) {
  const page = await browser.context.newPage();
  await page.goto(`${app}/`);
  await page.click('#sign-in');
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', 'correct horse');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button:has-text("Continue")');
  await page.click('button:has-text("Continue")');
  await page.waitForURL(`${app}/dashboard`);
  return page;
}

const callApi = (page) => page.evaluate(async () => {
  const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
  return { status: res.status, reason: res.headers.get('x-tessera-reason') };
});

describe('revocation in headless Chromium', { timeout: 180_000 }, () => {
  let stack;
  const browsers = [];

  before(async () => {
    stack = await startStack({ origin: 'demo', appHost: 'localhost', accessTokenTtl: 300 });
  });
  after(async () => {
    for (const b of browsers) await b.close();
    await stack?.close();
  });

  test('sign out in one tab: the other tab\'s next API call is refused', async () => {
    const browser = await launch();
    browsers.push(browser);
    const first = await signIn(browser, stack.app, 'alice');
    const second = await browser.context.newPage();
    await second.goto(`${stack.app}/dashboard`);
    assert.equal(await second.textContent('#identity-user'), 'alice');
    assert.equal((await callApi(second)).status, 200);
    await first.click('#sign-out');
    await first.waitForURL((url) => !url.pathname.startsWith('/dashboard'));
    const after = await callApi(second);
    assert.equal(after.status, 401);
  });

  test('"Sign out everywhere" on the laptop ends the session on the phone', async () => {
    const laptop = await launch();
    const phone = await launch();
    browsers.push(laptop, phone);
    const onLaptop = await signIn(laptop, stack.app, 'bob');
    const onPhone = await signIn(phone, stack.app, 'bob');
    assert.equal((await callApi(onPhone)).status, 200);
    await onLaptop.click('#sign-out-everywhere');
    await onLaptop.waitForURL(`${stack.app}/`);
    assert.equal(await onLaptop.locator('#sign-in').count(), 1, 'the laptop is signed out');
    assert.deepEqual(await callApi(onPhone), { status: 401, reason: 'session-revoked' });
    await onPhone.goto(`${stack.app}/dashboard`);
    assert.ok(onPhone.url().startsWith(`${stack.idp.issuer}/`), `the phone goes to sign in: ${onPhone.url()}`);
  });
});
