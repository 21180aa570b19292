import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../../src/access/open.js';
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
    // read from outside: alice's own folder in the state
    const dir = path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod');
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    expect(credential).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: {
        clientCertificateData: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
        clientKeyData: readFileSync(path.join(dir, 'key.pem'), 'utf8'),
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
    ['none', /^error: byoc: you \(alice@vendor\.example\) have no approved access to acme-prod\. Request it, then retry: byoc access request acme-prod --reason "\.\.\."\n$/],
  ] as const)('without usable access (%s) fails at once: exit 4, nothing on stdout, one line on stderr naming the command', async (access, line) => {
    const { setup } = await k8sWorkspace(api, { access });
    const result = await runCli(['kube-credential', 'acme-prod'], setup);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(line);
  });

  it("never hands another identity's key to kubectl: bob on alice's machine gets exit 4, alice still gets hers", async () => {
    // Given alice approved and holding a certificate for acme-prod, and bob (no request) on the same state folder
    const { setup, stateDir, broker } = await k8sWorkspace(api);
    expect((await runCli(['kube-credential', 'acme-prod'], setup)).exitCode).toBe(0);
    const aliceKey = readFileSync(path.join(stateDir, 'certs', 'alice_40vendor_2eexample', 'acme-prod', 'key.pem'), 'utf8');
    const bob = { ...setup, clients: { broker: async () => embeddedClient(broker, 'bob@vendor.example', stateDir) } };
    // When kubectl runs the plugin as bob
    const result = await runCli(['kube-credential', 'acme-prod'], bob);
    // Then he is refused with his own name, and alice's key appears nowhere in what he gets
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^error: byoc: you \(bob@vendor\.example\) have no approved access to acme-prod\./);
    expect(result.stdout + result.stderr).not.toContain(aliceKey.split('\n')[1]);
    // And alice still gets exactly her key
    const alice = await runCli(['kube-credential', 'acme-prod'], setup);
    expect(JSON.parse(alice.stdout).status.clientKeyData).toBe(aliceKey);
  });

  it('is hidden from help', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).not.toContain('kube-credential');
    expect(help.stdout).toMatch(/^\s+k8s\s/m);
  });
});
