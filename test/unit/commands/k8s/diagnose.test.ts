import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../../fakes/k8s-api-server.js';
import { FIXTURE_NOW, k8sWorkspace } from './workspace.js';

let api: FakeKubeApi;
let setup: Awaited<ReturnType<typeof k8sWorkspace>>['setup'];
beforeAll(async () => {
  api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
});
afterAll(() => api.close());
// An engineer with approved access; the command's clock is the instant the fixtures were captured.
beforeEach(async () => {
  ({ setup } = await k8sWorkspace(api, { now: FIXTURE_NOW }));
});

interface JsonCheck {
  id: string;
  area: string;
  status: string;
  object: string | null;
  evidence: string;
  hint: string;
  kubectl: string;
}

async function diagnose(scenario: string, args: string[] = []) {
  api.scenario = scenario;
  const result = await runCli(['k8s', 'diagnose', 'acme-prod', ...args, '--json'], setup);
  return { ...result, checks: (JSON.parse(result.stdout || '{"checks":[]}') as { checks: JsonCheck[] }).checks, document: result.stdout ? JSON.parse(result.stdout) : undefined };
}

const failing = (checks: JsonCheck[]) => [...new Set(checks.filter((check) => check.status === 'FAIL').map((check) => check.id))];

describe('byoc k8s diagnose', () => {
  it('passes a healthy cluster (exit 0), every check in the documented JSON shape, as the engineer', async () => {
    const before = api.requests.length;
    // Given a healthy cluster, When all areas are diagnosed
    const { exitCode, document, checks, stderr } = await diagnose('healthy');
    // Then every check passes and the JSON has the stable fields
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    expect(Object.keys(document)).toEqual(['service', 'checks']);
    expect(document.service).toBe('acme-prod');
    expect(new Set(checks.map((check) => check.area))).toEqual(new Set(['volumes', 'nodes', 'health']));
    for (const check of checks) {
      expect(Object.keys(check)).toEqual(['id', 'area', 'status', 'object', 'evidence', 'hint', 'kubectl']);
      expect(check.status).toBe('PASS');
      expect(check.kubectl).toMatch(/^kubectl /);
    }
    // And the API server saw only the engineer's certificate
    const seen = api.requests.slice(before);
    expect(seen.length).toBeGreaterThan(5);
    expect(new Set(seen.map((request) => request.commonName))).toEqual(new Set(['alice@vendor.example']));
  });

  it.each([
    ['volume-attach-error', ['volumes.attach-events', 'volumes.mount-events', 'volumes.volumeattachments']],
    ['failed-mount', ['volumes.mount-events', 'volumes.ebs-csi-driver', 'health.crashloop']],
    ['node-not-ready', ['nodes.ready', 'nodes.network', 'nodes.lease', 'nodes.aws-node']],
    ['aws-node-crashloop', ['nodes.aws-node', 'nodes.coredns', 'nodes.ip-assignment']],
    ['pending-pods', ['volumes.pvc-pending', 'volumes.zone-mismatch', 'health.pending-pods']],
    ['readyz-failing', ['health.readyz']],
    ['degraded-workloads', ['health.version-skew', 'health.node-pressure', 'health.oom-killed', 'health.workloads']],
  ])('finds what is wrong in %s and exits 5', async (scenario, expected) => {
    const { exitCode, checks, stderr } = await diagnose(scenario);
    expect(failing(checks)).toEqual(expect.arrayContaining(expected));
    expect(exitCode).toBe(5);
    expect(JSON.parse(stderr).error).toMatchObject({ code: 'k8s_checks_failed', message: expect.stringContaining(expected[0]!) });
    for (const check of checks.filter((row) => row.status === 'FAIL')) {
      expect(check.object).not.toBeNull();
      expect(check.hint).not.toBe('');
    }
  });

  it('marks a forbidden resource SKIPPED and runs every other check (exit 0)', async () => {
    const { exitCode, checks } = await diagnose('forbidden');
    const skipped = checks.filter((check) => check.status === 'SKIPPED');
    expect(skipped).toEqual([
      expect.objectContaining({ id: 'volumes.volumeattachments', object: null, evidence: expect.stringContaining('(HTTP 403)'), kubectl: 'kubectl auth can-i list volumeattachments -A' }),
    ]);
    expect(checks.filter((check) => check.status === 'PASS').length).toBeGreaterThan(10);
    expect(exitCode).toBe(0);
  });

  it('limits the run to one area, and --since (or BYOC_K8S_SINCE) widens the event window', async () => {
    const volumes = await diagnose('healthy', ['volumes']);
    expect(new Set(volumes.checks.map((check) => check.area))).toEqual(new Set(['volumes']));
    // The healthy cluster had one FailedMount 3h ago: outside the default hour, inside four
    const wide = await diagnose('healthy', ['volumes', '--since', '4h']);
    expect(wide.checks.find((check) => check.id === 'volumes.mount-events')).toMatchObject({ status: 'WARN', evidence: expect.stringContaining('FailedMount once, last 3h10m ago') });
    expect(wide.exitCode).toBe(0);
    api.scenario = 'healthy';
    const viaEnv = await runCli(['k8s', 'diagnose', 'acme-prod', 'volumes', '--json'], { ...setup, env: { ...setup.env, BYOC_K8S_SINCE: '4h' } });
    expect(JSON.parse(viaEnv.stdout).checks.find((check: JsonCheck) => check.id === 'volumes.mount-events').status).toBe('WARN');
    const bad = await runCli(['k8s', 'diagnose', 'acme-prod', 'disks'], setup);
    expect(bad.exitCode).toBe(2);
  });

  it('prints tab-separated rows when piped, and tables grouped by area with hints on a TTY', async () => {
    api.scenario = 'readyz-failing';
    const piped = await runCli(['k8s', 'diagnose', 'acme-prod', 'health'], setup);
    expect(piped.exitCode).toBe(5);
    const rows = piped.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
    expect(rows.every((row) => row.length === 7)).toBe(true);
    expect(rows[0]!.slice(0, 4)).toEqual(['FAIL', 'health', 'health.readyz', 'readyz/etcd']);
    expect(piped.stdout).not.toContain('\u001b[');
    expect(piped.stderr).toMatch(/^error: 2 checks FAIL on acme-prod: health\.readyz\nhint: /);

    const tty = await runCli(['k8s', 'diagnose', 'acme-prod'], { ...setup, stdoutTTY: true });
    const plain = stripVTControlCharacters(tty.stdout);
    expect(plain).toMatch(/acme-prod https:\/\/k8s\.acme\.example:\d+ · 2 FAIL, 0 WARN, 0 SKIPPED, \d+ PASS/);
    expect(plain.indexOf('Volumes (attach / mount)')).toBeLessThan(plain.indexOf('Node network'));
    expect(plain.indexOf('Node network')).toBeLessThan(plain.indexOf('Cluster health'));
    expect(plain).toMatch(/FAIL\s+readyz\s+readyz\/etcd\s+\[-\]etcd failed/);
    expect(plain).toContain("$ kubectl get --raw '/readyz/etcd?verbose'");
  });

  it('without access, says what to do before any API call (exit 4)', async () => {
    const { setup: pending, requestId } = await k8sWorkspace(api, { access: 'pending', now: FIXTURE_NOW });
    const before = api.requests.length;
    const result = await runCli(['k8s', 'diagnose', 'acme-prod'], pending);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(`byoc access wait ${requestId}`);
    expect(api.requests.length).toBe(before);
  });

  it('reports an unreachable API server once (exit 6), not per check', async () => {
    const { setup: down } = await k8sWorkspace(api, { now: FIXTURE_NOW, server: 'https://k8s.acme.example:1' });
    const result = await runCli(['k8s', 'diagnose', 'acme-prod'], down);
    expect(result.exitCode).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr.match(/^error:/gm)).toHaveLength(1);
    expect(result.stderr).toContain('byoc connect check');
  });
});
