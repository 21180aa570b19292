import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { embeddedClient } from '../../../../src/access/open.js';
import type { ClientFactories } from '../../../../src/context.js';
import { FakeClock } from '../../../fakes/context.js';
import { openTestBroker, testBrokerCa } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';
import type { FakeKubeApi } from '../../../fakes/k8s-api-server.js';

export const K8S_HOST = 'k8s.acme.example';
/** The instant the fixture clusters were captured at: diagnostics read their events against it. */
export const FIXTURE_NOW = new Date('2025-06-01T12:00:00Z');

export interface WorkspaceOptions {
  /** approved (default), pending, or no request at all */
  access?: 'approved' | 'pending' | 'none';
  /** the command's clock; the broker keeps real time so certificates are valid for TLS */
  now?: Date;
  /** the kubernetes.server URL; default: the fake API server by its tailnet name */
  server?: string;
  /** more configuration, appended as YAML */
  extraConfig?: string;
  /** the network.resolve entry for the tailnet name (default on) */
  resolve?: boolean;
}

/**
 * alice@vendor.example with (by default) an approved request for acme-prod, whose Kubernetes API is the
 * fake server, known by its tailnet name and reached through network.resolve, trusted through caFile.
 */
export async function k8sWorkspace(api: FakeKubeApi, options: WorkspaceOptions = {}) {
  const stateDir = tempDir();
  const home = tempDir();
  const { broker } = await openTestBroker(stateDir, new FakeClock(new Date()));
  let requestId: string | undefined;
  if ((options.access ?? 'approved') !== 'none') {
    const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'volumes stuck', duration: '2h' });
    requestId = request.id;
    if ((options.access ?? 'approved') === 'approved') await broker.approve('bob@vendor.example', request.id);
  }
  const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
  const configFile = path.join(cwd, 'byoc.config.yaml');
  const server = options.server ?? `https://${K8S_HOST}:${api.port}`;
  writeFileSync(
    configFile,
    `${options.resolve === false ? '' : `network:\n  resolve: { ${K8S_HOST}: 127.0.0.1 }\n`}services:\n  acme-prod:\n    kubernetes: { server: "${server}", caFile: ./ca.pem }\n${options.extraConfig ?? ''}`,
  );
  const clients: Partial<ClientFactories> = { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) };
  const setup = { cwd, clock: new FakeClock(options.now ?? new Date()), env: { BYOC_STATE_DIR: stateDir, HOME: home }, clients };
  return { setup, stateDir, home, cwd, configFile, requestId, broker };
}
