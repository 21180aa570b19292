import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../../fakes/k8s-api-server.js';
import { k8sWorkspace } from './workspace.js';

let api: FakeKubeApi;
beforeAll(async () => {
  api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
});
afterAll(() => api.close());

describe('byoc kube-credential (kubectl exec plugin)', () => {
  it('prints an ExecCredential with the current certificate and its expiry, fetching it when needed', async () => {
    // Given approved access and no certificate stored yet
    const { setup, stateDir } = await k8sWorkspace(api);
    // When kubectl runs the plugin (no --json: kubectl never passes it)
    const result = await runCli(['kube-credential', 'acme-prod'], setup);
    // Then stdout is exactly the ExecCredential, and nothing else is said
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    const credential = JSON.parse(result.stdout);
    const meta = JSON.parse(readFileSync(path.join(stateDir, 'certs', 'acme-prod', 'meta.json'), 'utf8'));
    expect(credential).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: {
        clientCertificateData: readFileSync(path.join(stateDir, 'certs', 'acme-prod', 'cert.pem'), 'utf8'),
        clientKeyData: readFileSync(path.join(stateDir, 'certs', 'acme-prod', 'key.pem'), 'utf8'),
        expirationTimestamp: new Date(meta.notAfter).toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    });
    expect(credential.status.clientCertificateData).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(credential.status.clientKeyData).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // And --json changes nothing about what kubectl reads
    const again = await runCli(['kube-credential', 'acme-prod', '--json'], setup);
    expect(JSON.parse(again.stdout)).toEqual(credential);
  });

  it.each([
    ['pending', /^error: byoc: your request r-\S+ for acme-prod is still pending approval\. Wait for it: byoc access wait r-\S+\n$/],
    ['none', /^error: byoc: you have no approved access to acme-prod\. Request it, then retry: byoc access request acme-prod --reason "\.\.\."\n$/],
  ] as const)('without usable access (%s) fails at once: exit 4, nothing on stdout, one line on stderr naming the command', async (access, line) => {
    const { setup } = await k8sWorkspace(api, { access });
    const result = await runCli(['kube-credential', 'acme-prod'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(line);
  });

  it('is hidden from help', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).not.toContain('kube-credential');
    expect(help.stdout).toMatch(/^\s+k8s\s/m);
  });
});
