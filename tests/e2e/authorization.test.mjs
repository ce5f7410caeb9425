// Route requirements in workerd, tokens from oidc-provider: the scenarios of
// ./authorization.mjs, which the npm package in Express passes too.
import { after, before, describe } from 'node:test';
import { startIdp } from './idp.mjs';
import { providerOptions, requirementScenarios, requirementsConfig } from './authorization.mjs';
import { startStack } from './stack.mjs';

describe('route requirements in workerd, tokens from oidc-provider', { timeout: 120_000 }, () => {
  let stack;

  before(async () => {
    stack = await startStack({
      accessTokenTtl: 300,
      provider: (app) => startIdp({ alg: 'ES256', redirectOrigin: app, ...providerOptions }),
      config: requirementsConfig,
    });
  });
  after(() => stack?.close());

  requirementScenarios(() => ({ app: stack.app, idp: stack.idp }));
});
