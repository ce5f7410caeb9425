// Route requirements through the npm package in an Express app over real
// HTTP, tokens from oidc-provider: the scenarios of tests/e2e/authorization.mjs,
// which the worker in workerd passes too.
import { after, before, describe } from 'node:test';
import { startIdp, CLIENT_ID, CLIENT_SECRET, API } from '../../tests/e2e/idp.mjs';
import { COOKIE_KEYS, freePort } from '../../tests/e2e/stack.mjs';
import { providerOptions, requirementScenarios, requirementsConfig, startPartner } from '../../tests/e2e/authorization.mjs';
import { startApp } from './fixtures/app.mjs';

describe('route requirements through Express, tokens from oidc-provider', { timeout: 120_000 }, () => {
  let idp;
  let partner;
  let app;
  let origin;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    idp = await startIdp({ alg: 'ES256', redirectOrigin: origin, ...providerOptions });
    partner = await startPartner();
    app = await startApp({
      port,
      config: {
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        appOrigin: origin,
        cookieKeys: COOKIE_KEYS,
        cookies: { prefix: 'tessera', secure: false },
        authorizationParams: { prompt: 'consent' },
        verification: { audience: API, algorithms: ['ES256'] },
        ...requirementsConfig(partner.issuer),
      },
    });
  });
  after(async () => {
    await app?.close();
    await idp?.close();
    await partner?.close();
  });

  requirementScenarios(() => ({ app: origin, idp, partner }));
});
