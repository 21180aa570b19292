import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../../src/errors.js';
import type { KubernetesConnector, KubernetesSession } from '../../../src/k8s/client.js';
import type { KubeconfigEntry } from '../../../src/k8s/kubeconfig.js';
import { kubeconfigFileFor, verifyKubeconfigContext, writeKubeconfigContext } from '../../../src/k8s/kubectl-context.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../fakes/k8s-api-server.js';
import { strictFake } from '../../fakes/strict-fake.js';
import { k8sWorkspace } from '../commands/k8s/workspace.js';

describe('kubeconfigFileFor', () => {
  const home = '/home/alice';
  const at = (cwd: string, env: Record<string, string> = {}) => ({ cwd, env: { HOME: home, ...env } });

  it('expands a leading ~ of --kubeconfig (a value from the config file or the environment never met a shell), and nothing else', () => {
    expect(kubeconfigFileFor(at('/work'), '~/.kube/acme.yaml')).toBe('/home/alice/.kube/acme.yaml');
    expect(kubeconfigFileFor(at('/work'), '~')).toBe('/home/alice');
    // ~bob is another user's home, which byoc does not look up: it stays a relative name
    expect(kubeconfigFileFor(at('/work'), '~bob/config')).toBe('/work/~bob/config');
  });

  it('makes a relative --kubeconfig or KUBECONFIG entry absolute against the working folder', () => {
    expect(kubeconfigFileFor(at('/work'), 'kube/config')).toBe('/work/kube/config');
    expect(kubeconfigFileFor(at('/work', { KUBECONFIG: 'team.yaml' }), undefined)).toBe('/work/team.yaml');
  });

  it('takes the first existing file of a KUBECONFIG list, checked against the working folder, else the last', () => {
    // Given a list whose second entry exists relative to the working folder
    const cwd = tempDir({ 'second.yaml': '' });
    expect(kubeconfigFileFor(at(cwd, { KUBECONFIG: 'first.yaml:second.yaml:third.yaml' }), undefined)).toBe(path.join(cwd, 'second.yaml'));
    // Given none exists / Then the last, like kubectl
    expect(kubeconfigFileFor(at(tempDir(), { KUBECONFIG: '/a/one.yaml:/b/two.yaml' }), undefined)).toBe('/b/two.yaml');
  });

  it('falls back to ~/.kube/config', () => {
    expect(kubeconfigFileFor(at('/work'), undefined)).toBe('/home/alice/.kube/config');
  });
});

const entry = (contextName = 'byoc-acme-prod'): KubeconfigEntry => ({
  contextName,
  clusterName: contextName,
  userName: contextName,
  cluster: { server: 'https://k8s.acme.example' },
  user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/usr/bin/node', args: ['/opt/byoc/bin/byoc.js', 'kube-credential', 'acme-prod'], interactiveMode: 'Never' } },
});
const now = () => new Date('2026-11-21T10:00:00Z');
const OTHER = 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: prod\n  context: { cluster: prod, user: prod }\ncurrent-context: prod\n';

describe('writeKubeconfigContext', () => {
  it('makes the context current in a kubeconfig it creates, and changes nothing on a second run', async () => {
    // Given no file / When the context is written
    const file = path.join(tempDir(), 'kube', 'config');
    const first = await writeKubeconfigContext(file, entry(), { switchContext: false, now });
    // Then it is current (there is nothing else kubectl could use), with no backup of a file that did not exist
    expect(first).toEqual({ file, changed: true, backup: null, switched: true, current: true });
    expect(parse(readFileSync(file, 'utf8'))['current-context']).toBe('byoc-acme-prod');
    // When it runs again / Then nothing changed and nothing was written
    expect(await writeKubeconfigContext(file, entry(), { switchContext: false, now })).toEqual({ file, changed: false, backup: null, switched: false, current: true });
    expect(readdirSync(path.dirname(file))).toEqual(['config']);
  });

  it("leaves another current context alone unless asked to switch, and backs up what it replaces", async () => {
    // Given a kubeconfig whose current context is prod
    const dir = tempDir({ config: OTHER });
    const file = path.join(dir, 'config');
    // When the context is added without --switch / Then prod stays current, and the old file is kept
    const added = await writeKubeconfigContext(file, entry(), { switchContext: false, now });
    expect(added).toMatchObject({ changed: true, switched: false, current: false, backup: expect.stringContaining('config.byoc-backup-20261121T100000Z') });
    expect(readFileSync(added.backup!, 'utf8')).toBe(OTHER);
    expect(parse(readFileSync(file, 'utf8'))['current-context']).toBe('prod');
    // When it runs with --switch / Then it is current now, and says this run switched it
    expect(await writeKubeconfigContext(file, entry(), { switchContext: true, now })).toMatchObject({ changed: true, switched: true, current: true });
  });
});

describe('verifyKubeconfigContext', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
  });
  afterAll(() => api.close());

  it("reports the server's version, who it says we are, and the certificate kubectl's plugin will use", async () => {
    // Given approved access to a reachable API server
    const { setup } = await k8sWorkspace(api);
    const { ctx } = testContext(setup);
    // When verifying
    const { verification, error } = await verifyKubeconfigContext(ctx, 'acme-prod', { file: '/k/config', changed: true, context: 'byoc-acme-prod' });
    // Then
    expect(error).toBeNull();
    expect(verification).toMatchObject({
      server: { url: `https://k8s.acme.example:${api.port}`, version: expect.stringMatching(/^v1\./) },
      user: expect.any(String),
      certificateSubject: expect.stringContaining('alice@vendor.example'),
      certificate: { notAfter: expect.any(String), remainingMs: expect.any(Number) },
    });
  });

  it('returns a refusal reworded to say the context was written (or was up to date), keeping its code and hint', async () => {
    // Given a request that is still pending
    const { setup, requestId } = await k8sWorkspace(api, { access: 'pending' });
    const { ctx } = testContext(setup);
    // When verifying after writing, and after finding the file up to date
    const written = await verifyKubeconfigContext(ctx, 'acme-prod', { file: '/k/config', changed: true, context: 'byoc-acme-prod' });
    const unchanged = await verifyKubeconfigContext(ctx, 'acme-prod', { file: '/k/config', changed: false, context: 'byoc-acme-prod' });
    // Then no verification, and an error with exit 4 and the next step
    expect(written.verification).toBeNull();
    expect(written.error).toMatchObject({ exitCode: 4, message: expect.stringMatching(/^wrote context byoc-acme-prod to \/k\/config, but verifying it failed: /), hint: expect.stringContaining(`byoc access wait ${requestId}`) });
    expect(unchanged.error?.message).toMatch(/^context byoc-acme-prod in \/k\/config is up to date, but verifying it failed: /);
  });

  it('throws an interruption, and anything that is not a byoc error, instead of reporting it', async () => {
    // Given a Kubernetes client that is interrupted, and one that fails with a plain error
    for (const failure of [new InterruptedError(), new TypeError('a bug')]) {
      const connector = strictFake<KubernetesConnector>({ connect: async (): Promise<KubernetesSession> => { throw failure; } }, 'kubernetes');
      const { setup } = await k8sWorkspace(api);
      const { ctx } = testContext({ ...setup, clock: new FakeClock(new Date()), clients: { ...setup.clients, kubernetes: async () => connector } });
      // When verifying / Then the same error is thrown
      await expect(verifyKubeconfigContext(ctx, 'acme-prod', { file: '/k/config', changed: true, context: 'byoc-acme-prod' })).rejects.toBe(failure);
    }
  });
});

