// Route requirements in workerd, tokens from oidc-provider: the scenarios of
// ./authorization.mjs, which the npm package in Express passes too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIdp } from './idp.mjs';
import { dpopKey, providerOptions, requirementScenarios, requirementsConfig, startPartner } from './authorization.mjs';
import { startStack } from './stack.mjs';

describe('route requirements in workerd, tokens from oidc-provider', { timeout: 120_000 }, () => {
  let stack;
  let partner;

  before(async () => {
    partner = await startPartner();
    stack = await startStack({
      accessTokenTtl: 300,
      provider: (app) => startIdp({ alg: 'ES256', redirectOrigin: app, ...providerOptions }),
      config: requirementsConfig(partner.issuer),
    });
  });
  after(async () => {
    await stack?.close();
    await partner?.close();
  });

  requirementScenarios(() => ({ app: stack.app, idp: stack.idp, partner }));

  test('a DPoP proof used once is refused by a new isolate too (the RevocationStore object holds its jti)', async () => {
    const proof = await dpopKey();
    const token = await stack.idp.clientCredentials('orders:read', proof);
    const url = `${stack.app}/api/jobs/run`;
    const p = await proof('GET', url, token);
    const call = () => fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: p } });
    assert.equal((await call()).status, 200);
    await stack.restartWorker();
    const again = await call();
    assert.equal(again.status, 401);
    assert.equal(again.headers.get('x-tessera-reason'), 'dpop-proof-replayed');
  });
});
