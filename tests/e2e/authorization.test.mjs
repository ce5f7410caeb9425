// Route requirements in workerd, tokens from oidc-provider: the scenarios of
// ./authorization.mjs, which the npm package in Express passes too.
import { after, before, describe } from 'node:test';
import { startIdp } from './idp.mjs';
import { providerOptions, requirementScenarios, requirementsConfig, startPartner } from './authorization.mjs';
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
});
