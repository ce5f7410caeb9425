// Shared by the package tests: a cookie jar and the sign-in through the
// package's own endpoints, for requests handed to the package directly.
import assert from 'node:assert/strict';
import { login } from '../../tests/e2e/idp.mjs';

export const APP = 'http://127.0.0.1:3999'; // never contacted: requests are handed to the package directly

/** A cookie jar over Set-Cookie headers, like a browser's for one origin. */
export class Jar {
  cookies = new Map();
  apply(headers) {
    for (const c of headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';').map((s) => s.trim());
      const i = pair.indexOf('=');
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(pair.slice(0, i));
      else this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

export const request = (path, jar, init = {}) => new Request(new URL(path, APP), {
  ...init,
  headers: { ...(jar?.cookies.size ? { cookie: jar.header() } : {}), 'sec-fetch-site': 'same-origin', ...init.headers },
});

/** Signs in through the package's own endpoints and the provider's pages. */
export async function signIn(tessera, jar, user = 'alice') {
  const start = await tessera.authenticateRequest(request('/__tessera/sign-in?redirect_url=%2Fapi%2Fme', jar));
  assert.equal(start.response?.status, 302, start.message ?? '');
  jar.apply(start.headers);
  const callback = await login(start.response.headers.get('location'), user);
  const done = await tessera.authenticateRequest(request(new URL(callback).pathname + new URL(callback).search, jar));
  assert.equal(done.response?.status, 303, `${done.reason}: ${done.message}`);
  jar.apply(done.headers);
}

/** The access token the package forwards for a signed-in request. */
export async function accessToken(tessera, jar) {
  const r = await tessera.authenticateRequest(request('/api/me', jar));
  jar.apply(r.headers);
  assert.ok(r.forwardHeaders, `${r.status} ${r.reason} ${r.message}`);
  return r.forwardHeaders.get('authorization').slice('Bearer '.length);
}
