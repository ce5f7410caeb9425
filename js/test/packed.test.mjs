// The published shape of tessera-edge: `npm pack`, installed into a scratch
// project, then used as a user would: imported in Node, type-checked with
// the shipped .d.ts, and bundled by wrangler into a JS worker that runs in
// workerd (miniflare), each verifying tokens from oidc-provider on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import { createTessera } from 'tessera-edge';
import { startIdp, CLIENT_ID, CLIENT_SECRET, API } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS } from '../../tests/e2e/stack.mjs';
import { lenientOnlyTokens } from '../../tests/e2e/ed25519.mjs';
import { APP, Jar, accessToken, signIn } from './helpers.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name) => path.join(root, 'node_modules/.bin', name);
const ALGS = ['ES256', 'EdDSA', 'RS256'];

const WORKER = `import { createTessera } from 'tessera-edge';
const instances = new Map();
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const issuer = url.searchParams.get('issuer');
    if (!instances.has(issuer)) instances.set(issuer, createTessera({ issuer, verification: { audience: ${JSON.stringify(API)} }, routes: [{ pattern: '/api/**', access: 'api' }] }));
    const tessera = await instances.get(issuer);
    if (url.pathname === '/verify') return Response.json(await tessera.verify(request.headers.get('x-token') ?? ''));
    const result = await tessera.authenticateRequest(request);
    if (result.response) return result.response;
    return Response.json({ user: result.identity.sub, alg: result.identity.alg, source: result.event.source });
  },
};
`;

const NODE_CHECK = `import { createTessera } from 'tessera-edge';
import { tesseraMiddleware } from 'tessera-edge/express';
const tessera = await createTessera({ issuer: process.env.ISSUER, verification: { audience: process.env.AUDIENCE } });
const good = await tessera.verify(process.env.TOKEN);
const bad = await tessera.verify(process.env.TOKEN.slice(0, -4) + 'AAAA');
console.log(JSON.stringify({ good: good.valid && good.claims.sub, bad: bad.valid || bad.reason, express: typeof tesseraMiddleware }));
`;

const TYPES_OK = `import { createTessera, REASONS, type TesseraReason, type VerifyResult } from 'tessera-edge';
const tessera = await createTessera({ issuer: 'https://auth.example.com', verification: { audience: 'api', algorithms: ['ES256'] } });
const result: VerifyResult = await tessera.verify('token');
const reason: TesseraReason | 'ok' = result.valid ? 'ok' : result.reason;
const status: number = REASONS['token-expired'][0];
console.log(reason, status);
`;

const TYPES_BAD = `import { createTessera, type TesseraReason } from 'tessera-edge';
const reason: TesseraReason = 'token-is-fine';
await createTessera({ issuer: 'https://auth.example.com', verification: { algorithms: ['HS256'] } });
console.log(reason);
`;

describe('the packed package in a scratch project', { timeout: 180_000 }, () => {
  let dir;
  let app;
  let tarball;
  const idps = {};
  const tokens = {};
  let mf;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tessera-edge-'));
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: path.join(root, 'js') });
    tarball = path.join(dir, stdout.trim().split('\n').pop());
    app = path.join(dir, 'app');
    await mkdir(app);
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies: { 'tessera-edge': `file:${tarball}` } }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });
    for (const alg of ALGS) {
      idps[alg] = await startIdp({ alg, redirectOrigin: APP, accessTokenTtl: 120 });
      const sessions = await createTessera({
        issuer: idps[alg].issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, appOrigin: APP, cookieKeys: COOKIE_KEYS,
        cookies: { prefix: 'tessera', secure: false }, resources: [API], authorizationParams: { prompt: 'consent' },
        verification: { audience: API, algorithms: [alg] }, routes: [{ pattern: '/api/**', access: 'api' }],
      });
      const jar = new Jar();
      await signIn(sessions, jar);
      tokens[alg] = await accessToken(sessions, jar);
    }
  });
  after(async () => {
    await mf?.dispose();
    for (const idp of Object.values(idps)) await idp.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the tarball holds the built package and nothing else', async () => {
    const { stdout } = await run('tar', ['tzf', tarball]);
    const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of ['package.json', 'README.md', 'schema.json', 'dist/node.js', 'dist/workerd.js', 'dist/browser.js', 'dist/node.d.ts', 'dist/wasm/tessera_bg.wasm',
      'dist/adapters/next.js', 'dist/adapters/next.d.ts', 'dist/adapters/hono.js', 'dist/adapters/express.js']) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    assert.deepEqual(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'schema.json'].includes(f)), []);
  });

  test('installed, it verifies tokens in Node (ES256, EdDSA, RS256)', async () => {
    await writeFile(path.join(app, 'check.mjs'), NODE_CHECK);
    for (const alg of ALGS) {
      const env = { ...process.env, ISSUER: idps[alg].issuer, AUDIENCE: API, TOKEN: tokens[alg] };
      const { stdout } = await run('node', ['check.mjs'], { cwd: app, env });
      assert.deepEqual(JSON.parse(stdout), { good: 'alice', bad: 'signature-invalid', express: 'function' }, alg);
    }
  });

  test('installed, it resolves tessera-edge/schema.json for editors and validators', async () => {
    const script = "const s = await import('tessera-edge/schema.json', { with: { type: 'json' } }); console.log(s.default.title, s.default.required);";
    const { stdout } = await run('node', ['--input-type=module', '-e', script], { cwd: app });
    assert.equal(stdout.trim(), 'Tessera configuration [ \'issuer\' ]');
  });

  test('its shipped types check a correct program and catch a wrong reason code and algorithm', async () => {
    await writeFile(path.join(app, 'ok.ts'), TYPES_OK);
    await writeFile(path.join(app, 'bad.ts'), TYPES_BAD);
    const tsc = (file) => run(bin('tsc'), ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', file], { cwd: app });
    await tsc('ok.ts');
    const failed = await tsc('bad.ts').then(() => null, (e) => e.stdout);
    assert.ok(failed, 'the wrong program does not type-check');
    assert.match(failed, /bad\.ts\(2,7\).*'"token-is-fine"' is not assignable to type '"token-missing" \| /);
    assert.match(failed, /bad\.ts\(3,.*'"HS256"' is not assignable/);
  });

  test('bundled by wrangler, it runs as a JS worker in workerd with the workerd build', async () => {
    await writeFile(path.join(app, 'worker.mjs'), WORKER);
    await writeFile(path.join(app, 'wrangler.toml'), 'name = "scratch"\nmain = "worker.mjs"\ncompatibility_date = "2026-04-20"\n');
    const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', XDG_CONFIG_HOME: path.join(dir, 'config') };
    await run(bin('wrangler'), ['deploy', '--dry-run', '--outdir', 'out'], { cwd: app, env });
    const bundle = await readFile(path.join(app, 'out/worker.js'), 'utf8');
    assert.doesNotMatch(bundle, /node:fs|readFileSync/, 'the workerd condition, not the node one');
    mf = new Miniflare({
      modules: true,
      scriptPath: path.join(app, 'out/worker.js'),
      modulesRoot: path.join(app, 'out'),
      modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
      compatibilityDate: '2026-04-20',
    });
    for (const alg of ALGS) {
      const at = (p) => `http://worker.test${p}?issuer=${encodeURIComponent(idps[alg].issuer)}`;
      const good = await (await mf.dispatchFetch(at('/verify'), { headers: { 'x-token': tokens[alg] } })).json();
      assert.deepEqual([good.valid, good.claims?.sub, good.identity?.alg], [true, 'alice', alg], JSON.stringify(good));
      const [h, p] = tokens[alg].split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: 'mallory' })).toString('base64url')}.${tokens[alg].split('.')[2]}`;
      const bad = await (await mf.dispatchFetch(at('/verify'), { headers: { 'x-token': forged } })).json();
      assert.deepEqual([bad.valid, bad.reason, bad.retryable], [false, 'signature-invalid', false]);
      if (alg === 'EdDSA') {
        // workerd's Ed25519 (WebCrypto) would accept these; the core's strict rules refuse them first.
        for (const [name, token] of Object.entries(lenientOnlyTokens(idps[alg].signingKey, tokens[alg]))) {
          const r = await (await mf.dispatchFetch(at('/verify'), { headers: { 'x-token': token } })).json();
          assert.deepEqual([r.valid, r.reason], [false, 'signature-invalid'], name);
        }
      }
      const api = await mf.dispatchFetch(at('/api/me'), { headers: { authorization: `Bearer ${tokens[alg]}` } });
      assert.deepEqual([api.status, await api.json()], [200, { user: 'alice', alg, source: 'bearer' }]);
      const anonymous = await mf.dispatchFetch(at('/api/me'));
      assert.deepEqual([anonymous.status, anonymous.headers.get('x-tessera-reason')], [401, 'token-missing']);
      await anonymous.arrayBuffer();
    }
  });
});
