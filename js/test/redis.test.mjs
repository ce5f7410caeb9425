// Many Node processes sharing Redis (tessera-edge/redis): Debian's
// redis-server on 127.0.0.1, three processes of an Express app behind a
// round-robin proxy, oidc-provider. One refresh at the provider for 20
// concurrent requests spread over the three; late tabs with rotated-out
// cookies served by any of them; a back-channel logout delivered to one
// refused by all; a DPoP proof accepted by one refused by the others;
// Redis stopped mid-run, then back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { startIdp, CLIENT_ID, CLIENT_SECRET, login, endSession } from '../../tests/e2e/idp.mjs';
import { Browser, COOKIE_KEYS, freePort, sleep } from '../../tests/e2e/stack.mjs';
import { dpopKey } from '../../tests/e2e/authorization.mjs';

const APP_SCRIPT = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
const TTL = 3;
/** How long a revocation may take to reach every process (pub/sub): polled up to this, never asserted as a time. */
const PROPAGATION_MS = 5_000;

/** Starts redis-server on `port` (no persistence); resolves once it answers. */
async function startRedis(port) {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: () => 100 } });
  client.on('error', () => {});
  for (let i = 0; i < 50; i += 1) {
    try {
      await client.connect();
      await client.ping();
      await client.close();
      return server;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(server) {
  server.kill('SIGKILL');
  await once(server, 'exit');
}

/** A round-robin proxy in front of `ports`; `served` counts requests per instance. */
async function startProxy(port, ports) {
  let next = 0;
  const served = ports.map(() => 0);
  const server = http.createServer((req, res) => {
    const i = next++ % ports.length;
    served[i] += 1;
    const upstream = http.request({ host: '127.0.0.1', port: ports[i], method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.rawHeaders);
      up.pipe(res);
    });
    upstream.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(upstream);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return { served, close: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); } };
}

async function startInstance(name, options) {
  const child = fork(APP_SCRIPT, [], { env: { ...process.env, TESSERA_APP: JSON.stringify({ ...options, name }) }, stdio: 'inherit' });
  const [message] = await once(child, 'message');
  return { name, child, port: message.port };
}

/** Polls `check` until it holds, up to `ms`. */
async function eventually(check, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

describe('three Node processes sharing Redis', { timeout: 240_000 }, () => {
  let redisPort;
  let redis;
  let idp;
  let proxy;
  let origin;
  let options;
  const instances = [];

  before(async () => {
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const proxyPort = await freePort();
    origin = `http://127.0.0.1:${proxyPort}`;
    idp = await startIdp({ alg: 'ES256', redirectOrigin: origin, accessTokenTtl: TTL, backchannelLogoutUri: `${origin}/__tessera/backchannel-logout`, machineClient: true, dpop: true });
    options = {
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      config: {
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        appOrigin: origin,
        cookieKeys: COOKIE_KEYS,
        cookies: { prefix: 'tessera', secure: false },
        authorizationParams: { prompt: 'consent' },
        refreshAhead: 1,
        verification: { audience: 'https://api.tessera.test', algorithms: ['ES256'], leeway: 0 },
        routes: [{ pattern: '/stats', access: 'public' }, { pattern: '/api/**', access: 'api' }],
      },
    };
    for (const name of ['a', 'b', 'c']) instances.push(await startInstance(name, options));
    proxy = await startProxy(proxyPort, instances.map((i) => i.port));
  });
  after(async () => {
    for (const i of instances) i.child.kill();
    await proxy?.close();
    await idp?.close();
    if (redis && redis.exitCode === null) await stopRedis(redis);
  });

  /** The same request sent to one instance directly (not through the proxy). */
  const direct = (instance, path, cookie) => fetch(`http://127.0.0.1:${instance.port}${path}`, { headers: cookie ? { cookie } : {} });

  async function signedIn(user = 'alice') {
    const browser = new Browser(origin);
    const providerJar = new Map();
    await browser.signIn('/api/me', user, (url, u) => login(url, u, providerJar));
    return { browser, providerJar };
  }

  test('20 concurrent requests with an expired session, over three processes: one refresh, 20 answers', async () => {
    const { browser } = await signedIn();
    const stale = browser.header();
    await sleep((TTL + 1) * 1000);
    const before = idp.counts.refresh;
    const served = [...proxy.served];
    const results = await Promise.all(Array.from({ length: 20 }, () => browser.fetch('/api/me', { headers: { cookie: stale } })));
    const bodies = await Promise.all(results.map((r) => r.json().catch(() => null)));
    for (const [i, r] of results.entries()) assert.equal(r.status, 200, `${r.status} ${r.headers.get('x-tessera-reason')}`);
    assert.ok(bodies.every((b) => b.user === 'alice'));
    assert.equal(idp.counts.refresh - before, 1, 'one refresh at the provider');
    assert.equal(idp.counts.refreshRefused, 0, 'no rotated-out refresh token spent again');
    assert.ok(proxy.served.every((n, i) => n - served[i] >= 6), `spread over the three: ${proxy.served}`);
    assert.equal(new Set(bodies.map((b) => b.instance)).size, 3, 'answered by all three');
    // Late tabs, still with the rotated-out cookies, on each instance.
    for (const instance of instances) {
      const late = await direct(instance, '/api/me', stale);
      assert.equal(late.status, 200, `late tab on ${instance.name}: ${late.headers.get('x-tessera-reason')}`);
    }
    assert.equal(idp.counts.refresh - before, 1, 'still one refresh');
    const stats = await Promise.all(instances.map(async (i) => (await direct(i, '/stats')).json()));
    assert.equal(stats.reduce((n, s) => n + s.miss, 0), 1, 'one process led');
    assert.ok(stats.reduce((n, s) => n + s.hit, 0) >= 2, 'the others were answered from the store');
  });

  test('a back-channel logout delivered to one process is enforced by all three', async () => {
    const { browser, providerJar } = await signedIn();
    const cookie = browser.header();
    for (const i of instances) assert.equal((await direct(i, '/api/me', cookie)).status, 200);
    const before = idp.counts.backchannel;
    await endSession(idp.issuer, providerJar);
    assert.equal(idp.counts.backchannel - before, 1, 'delivered through the proxy, to one instance');
    for (const i of instances) {
      await eventually(async () => (await direct(i, '/api/me', cookie)).headers.get('x-tessera-reason') === 'session-revoked', PROPAGATION_MS, `instance ${i.name}`);
    }
  });

  test('"sign out everywhere" on one process ends the user\'s sessions on all', async () => {
    const one = await signedIn('erin');
    const two = await signedIn('erin');
    const res = await one.browser.fetch('/api/sign-out-everywhere', { method: 'POST', headers: { origin } });
    assert.equal(res.status, 200);
    for (const i of instances) {
      await eventually(async () => (await direct(i, '/api/me', two.browser.header())).status === 401, PROPAGATION_MS, `instance ${i.name}`);
    }
  });

  test('a DPoP proof accepted by one process is refused by the other two (its jti is in Redis)', async () => {
    const proof = await dpopKey();
    const token = await idp.clientCredentials(undefined, proof);
    const p = await proof('GET', `${origin}/api/jobs`, token);
    const call = (instance) => fetch(`http://127.0.0.1:${instance.port}/api/jobs`, { headers: { authorization: `DPoP ${token}`, dpop: p } });
    const first = await call(instances[0]);
    assert.equal(first.status, 200, `${first.headers.get('x-tessera-reason')}`);
    for (const other of instances.slice(1)) {
      const again = await call(other);
      assert.equal(again.status, 401, other.name);
      assert.equal(again.headers.get('x-tessera-reason'), 'dpop-proof-replayed');
    }
  });

  test('Redis stopped mid-run: no one is signed out, a cold process answers 503, then all recover', async () => {
    const { browser } = await signedIn('frank');
    const cookie = browser.header();
    await stopRedis(redis);
    // Loaded processes keep serving valid sessions.
    for (const i of instances) assert.equal((await direct(i, '/api/me', cookie)).status, 200, `instance ${i.name}`);
    // An expired session is not refreshed without the lock, and not signed out.
    await sleep((TTL + 1) * 1000);
    const expired = await direct(instances[0], '/api/me', cookie);
    assert.equal(expired.status, 503, `${expired.headers.get('x-tessera-status')} ${JSON.stringify(await expired.clone().json())}`);
    assert.equal(expired.headers.get('x-tessera-reason'), 'store-unavailable');
    assert.ok(!expired.headers.getSetCookie().some((c) => /Max-Age=0/i.test(c)), 'cookies kept');
    // A process started now cannot load the revocations: a session from
    // before it began is 503, never served unchecked; one signed in through
    // it afterwards is newer than anything it may miss.
    const cold = await startInstance('cold', options);
    instances.push(cold);
    const unknown = await direct(cold, '/api/me', cookie);
    assert.equal(unknown.status, 503);
    assert.equal(unknown.headers.get('x-tessera-reason'), 'store-unavailable');
    assert.equal((await (await direct(cold, '/stats')).json()).revocationsLoaded, false);
    // Redis comes back: refreshes and revocations work again, the cold process loads them.
    redis = await startRedis(redisPort);
    await eventually(async () => {
      const r = await direct(instances[0], '/api/me', cookie);
      browser.apply(r); // the refreshed cookies, as the browser would keep them
      return r.status === 200;
    }, 10_000, 'refresh after Redis returned');
    let last = '';
    await eventually(async () => {
      const r = await direct(cold, '/api/me', browser.header());
      last = `${r.status} ${r.headers.get('x-tessera-reason')} ${JSON.stringify(await (await direct(cold, '/stats')).json())}`;
      return r.status === 200;
    }, 15_000, 'the cold process after Redis returned').catch((e) => { throw new Error(`${e.message}: ${last}`); });
    const stats = await (await direct(instances[0], '/stats')).json();
    assert.ok(stats.storeError >= 1);
    assert.equal(stats.revocationsLoaded, true);
  });
});
