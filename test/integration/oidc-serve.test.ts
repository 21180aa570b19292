/**
 * `byoc broker serve` as a process, configured with broker.oidc in its file: it publishes the provider at
 * GET /v1/auth and checks the provider's tokens, proven with raw HTTP from outside.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnByoc } from '../fakes/spawn-byoc.js';
import { tempDir } from '../fakes/fs.js';
import { serveIn } from './broker-serve-served.js';
import { startTestProvider, tokensFor, type TestProvider } from '../support/oidc-provider.js';

const AUDIENCE = 'https://broker.vendor.example';
const providers: TestProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});

async function served(issuer: string, clientId: string): Promise<string> {
  const cwd = tempDir({
    'byoc.config.yaml': `policy: { approvers: [bob@vendor.example] }\nservices: { acme-prod: {} }\nbroker:\n  oidc: { issuer: "${issuer}", clientId: ${clientId}, audience: "${AUDIENCE}", groupsClaim: groups }\n`,
  });
  return (await serveIn(cwd, { BYOC_STATE_DIR: tempDir() })).url;
}

describe('byoc broker serve with broker.oidc (a real process)', () => {
  it('publishes the provider, takes its access tokens for the audience, refuses another issuer\'s (401)', async () => {
    // Given a provider, another one, and a broker process configured for the first
    const idp = await startTestProvider({ audience: AUDIENCE, accounts: { alice: { email: 'alice@vendor.example' } } });
    const other = await startTestProvider({ audience: AUDIENCE });
    providers.push(idp, other);
    const url = await served(idp.issuer, idp.clientId);
    // When anyone asks it how to sign in
    const auth = (await (await fetch(`${url}/v1/auth`)).json()) as { oidc: Record<string, unknown> };
    // Then it names the provider, client and bearer from its file
    expect(auth.oidc).toMatchObject({ issuer: idp.issuer, clientId: 'byoc-cli', audience: AUDIENCE, bearer: 'access_token', groupsClaim: 'groups' });
    // and alice's access token is alice, while the other provider's token is refused
    const whoami = (token: string) => fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await (await whoami((await tokensFor(idp, 'alice')).accessToken)).json()).toEqual({ identity: 'alice@vendor.example', groups: [], via: 'oidc' });
    const refused = await whoami((await tokensFor(other, 'alice')).accessToken);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('token_wrong_issuer');
  });

  it('refuses to start with half a broker.oidc (exit 3)', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'broker:\n  oidc: { issuer: "https://login.vendor.example/" }\n' });
    const spawned = spawnByoc(['broker', 'serve', '--listen', '127.0.0.1:0', '--json'], { cwd, env: { BYOC_STATE_DIR: tempDir() } });
    const { exitCode, stderr } = await spawned.exited;
    expect(exitCode).toBe(3);
    expect(JSON.parse(stderr).error).toMatchObject({ code: 'oidc_incomplete', message: 'broker.oidc needs both issuer and clientId (clientId is missing)' });
  });
});
