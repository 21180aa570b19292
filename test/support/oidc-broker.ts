/**
 * A served broker configured for single sign-on, as `byoc broker serve` wires it (openBroker on a fresh state folder,
 * brokerAuthOptions from its configuration file), on a loopback port. Tests call it over raw HTTP or through the CLI.
 */
import type { Server } from 'node:http';
import { afterEach } from 'vitest';
import { openBroker } from '../../src/access/open.js';
import { createBrokerServer, listen } from '../../src/access/server.js';
import { brokerAuthOptions } from '../../src/auth/broker-auth.js';
import { FakeClock, testContext } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';

/** Time that can be moved forward (a token's expiry), but waits that really wait. */
class MovableClock extends FakeClock {
  override sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); })));
});

export interface OidcBrokerOptions {
  oidc?: { issuer: string; clientId: string; audience?: string; identityClaim?: string; groupsClaim?: string; scopes?: string[] };
  approvers?: string[];
}

export async function serveOidcBroker(options: OidcBrokerOptions) {
  const stateDir = tempDir();
  const clock = new MovableClock(new Date());
  const oidc = options.oidc ? `broker:\n  oidc: ${JSON.stringify(options.oidc)}\n` : '';
  const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: ${JSON.stringify(options.approvers ?? ['bob@vendor.example'])} }\nservices: { acme-prod: {} }\n${oidc}` });
  const { ctx } = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir }, clock });
  const configuration = await ctx.config();
  const broker = await openBroker(ctx, configuration);
  const server = createBrokerServer(broker, brokerAuthOptions(configuration, () => clock.now()));
  servers.push(server);
  const { port } = await listen(server, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;
  const raw = (route: string, init: { method?: string; body?: unknown; token?: string } = {}) =>
    fetch(`${url}${route}`, {
      method: init.method ?? 'GET',
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
  return { url, stateDir, clock, broker, raw };
}
