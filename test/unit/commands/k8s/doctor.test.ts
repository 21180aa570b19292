import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../../fakes/k8s-api-server.js';
import { tailscaleFixture } from '../../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../../fakes/tailscale/runner.js';
import { k8sWorkspace, type WorkspaceOptions } from './workspace.js';

let api: FakeKubeApi;
beforeAll(async () => {
  api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
});
afterAll(() => api.close());

const tailscale = () =>
  new ScriptedRunner([
    { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
    { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
    { match: /^ping /, stdout: tailscaleFixture('ping-direct.txt') },
  ]);

async function doctor(options: WorkspaceOptions & { getCertificate?: boolean } = {}) {
  const { setup } = await k8sWorkspace(api, options);
  const withTailscale = { ...setup, clients: { ...setup.clients, tailscale: async () => tailscale() } };
  if (options.getCertificate !== false) expect((await runCli(['cert', 'get', 'acme-prod'], withTailscale)).exitCode).toBe(0);
  const result = await runCli(['doctor', 'acme-prod', '--json'], withTailscale);
  const report = JSON.parse(result.stdout) as { steps: { id: string; status: string; evidence: string; kind?: string; next?: string }[] };
  return { result, step: report.steps.find((step) => step.id === 'kubernetes'), ids: report.steps.map((step) => step.id) };
}

describe('byoc doctor: the Kubernetes step', () => {
  it('asks the API server for its version over the tailnet path, with the certificate, after the ClickHouse steps (metrics last)', async () => {
    const before = api.requests.length;
    const { step, ids } = await doctor();
    expect(ids.slice(-2)).toEqual(['kubernetes', 'metrics']);
    expect(step).toEqual({ id: 'kubernetes', title: 'Kubernetes API', status: 'PASS', evidence: `https://k8s.acme.example:${api.port} answers: Kubernetes v1.30.4-eks-a737599, you are alice@vendor.example` });
    expect(api.requests.slice(before).filter((request) => request.path === '/version').map((request) => request.commonName)).toEqual(['alice@vendor.example']);
  });

  it('fails as a network problem when the API server does not answer', async () => {
    const { step } = await doctor({ server: 'https://k8s.acme.example:1' });
    expect(step).toMatchObject({ status: 'FAIL', kind: 'network', evidence: expect.stringContaining('cannot reach the Kubernetes API'), next: expect.stringContaining('byoc connect check') });
  });

  it('is skipped without a certificate, and for a service without a Kubernetes endpoint', async () => {
    const noCertificate = await doctor({ access: 'none', getCertificate: false });
    expect(noCertificate.step).toMatchObject({ status: 'SKIPPED', evidence: 'skipped: certificate did not pass' });
    const { setup, configFile } = await k8sWorkspace(api);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(configFile, 'services:\n  acme-prod:\n    clickhouse: { url: "https://ch.acme.example:8443" }\n');
    const withTailscale = { ...setup, clients: { ...setup.clients, tailscale: async () => tailscale() } };
    expect((await runCli(['cert', 'get', 'acme-prod'], withTailscale)).exitCode).toBe(0);
    const report = JSON.parse((await runCli(['doctor', 'acme-prod', '--json'], withTailscale)).stdout);
    expect(report.steps.find((step: { id: string }) => step.id === 'kubernetes')).toMatchObject({ status: 'SKIPPED', evidence: 'no services.acme-prod.kubernetes.server configured' });
  });
});
