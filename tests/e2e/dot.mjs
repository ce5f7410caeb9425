// The second OpenID Provider: django-oauth-toolkit (tests/dot/server.py) in
// the virtualenv scripts/test.sh creates (target/dot-venv, pinned by
// tests/dot/requirements.txt), on 127.0.0.1, with Django's own login form.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './stack.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const DOT_PYTHON = path.join(root, 'target/dot-venv/bin/python');
export const DOT_CLIENT_ID = 'tessera';
export const DOT_CLIENT_SECRET = 'tessera-dot-secret';

/**
 * Starts django-oauth-toolkit for the app at `redirectOrigin`; access and ID
 * tokens live `accessTokenTtl` seconds. Resolves once it accepts connections.
 */
export async function startDot({ redirectOrigin, accessTokenTtl = 5 } = {}) {
  if (!existsSync(DOT_PYTHON)) {
    throw new Error(`${DOT_PYTHON} is missing: ./scripts/test.sh creates it (python3 -m venv target/dot-venv && pip install -r tests/dot/requirements.txt)`);
  }
  const port = await freePort();
  const state = await mkdtemp(path.join(tmpdir(), 'tessera-dot-'));
  const child = spawn(DOT_PYTHON, [path.join(root, 'tests/dot/server.py'), String(port), redirectOrigin, state, String(accessTokenTtl)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`django-oauth-toolkit did not start:\n${stderr}`)), 60_000);
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); resolve(); } });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`django-oauth-toolkit exited ${code}:\n${stderr}`)); });
  });
  const issuer = `http://127.0.0.1:${port}/o`;
  return {
    issuer,
    async close() {
      child.kill();
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
      await rm(state, { recursive: true, force: true });
    },
    login: dotLogin,
  };
}

/**
 * Drives django-oauth-toolkit's authorization with `fetch`: the redirect to
 * Django's login form, the form (with its CSRF token) as `user`, and back to
 * the authorization endpoint, which redirects to the callback (the client
 * skips the consent page). Returns the callback URL.
 */
export async function dotLogin(authorizeUrl, user = 'alice') {
  const jar = new Map();
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
  let res = await send(authorizeUrl);
  if (res.status !== 302) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  const loginUrl = new URL(res.headers.get('location'), authorizeUrl);
  res = await send(loginUrl);
  const form = await res.text();
  const csrf = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(form)?.[1];
  if (!csrf) throw new Error(`no CSRF token in the login form: ${form.slice(0, 300)}`);
  res = await send(loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', referer: loginUrl.href },
    body: new URLSearchParams({ csrfmiddlewaretoken: csrf, username: user, password: `${user}-password`, next: loginUrl.searchParams.get('next') }),
  });
  if (res.status !== 302) throw new Error(`the login form answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  res = await send(new URL(res.headers.get('location'), loginUrl));
  if (res.status !== 302) throw new Error(`authorize after login answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res.headers.get('location');
}
