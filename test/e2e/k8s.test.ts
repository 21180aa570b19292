import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateBrokerCa } from '../../src/pki/ca.js';
import { processLockOwner } from '../../src/access/open.js';
import { startConnectProxy, type FakeConnectProxy } from '../fakes/connect-proxy.js';
import { tempDir } from '../fakes/fs.js';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/k8s-api-server.js';
import { BYOC_BIN, byoc } from './helpers.js';

const KUBECTL = '/usr/bin/kubectl';
const HOST = 'k8s.acme.example';
const haveKubectl = existsSync(KUBECTL);

const EXISTING = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
users:
- name: prod-admin
  user:
    token: abc123
contexts:
- name: prod-admin
  context:
    cluster: prod
    user: prod-admin
current-context: prod-admin
`;

/**
 * The engineer's machine: a state folder whose embedded broker CA also signed the fake API server's
 * certificate (the customer's nginx trusts the broker CA), a configuration naming the API server by its
 * tailnet name, and alice's approved request. kubectl and byoc run as subprocesses (asynchronously, so the
 * in-process API server and proxy can answer them).
 */
let cwd: string;
let stateDir: string;
let api: FakeKubeApi;
let proxy: FakeConnectProxy;

beforeAll(async () => {
  // Shared by the whole file (tempDir() folders go after each test): removed in afterAll.
  cwd = mkdtempSync(path.join(os.tmpdir(), 'byoc-e2e-k8s-'));
  stateDir = path.join(cwd, 'state');
  const ca = await loadOrCreateBrokerCa(stateDir, new Date(), { warn: () => undefined, owner: processLockOwner() });
  api = await startFakeKubeApi({ scenario: 'healthy', ca, names: [HOST] });
  proxy = await startConnectProxy({ [HOST]: '127.0.0.1' });
  writeFileSync(path.join(cwd, 'ca.pem'), ca.certPem);
  const service = `services:\n  acme-prod:\n    kubernetes: { server: "https://${HOST}:${api.port}", caFile: ./ca.pem }\npolicy:\n  approvers: [bob@vendor.example]\n`;
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\n${service}`);
  // Through the proxy nothing resolves the name locally: the proxy does, as tailscaled does.
  writeFileSync(path.join(cwd, 'proxied.yaml'), `network:\n  proxy: "${proxy.url}"\n${service}`);
  const requested = await as('alice@vendor.example', ['access', 'request', 'acme-prod', '--reason', 'pvc stuck', '--duration', '2h', '--json']);
  expect(requested.exitCode).toBe(8);
  const id = JSON.parse(requested.stdout).id as string;
  expect((await as('bob@vendor.example', ['access', 'approve', id])).exitCode).toBe(0);
}, 60_000);
afterAll(async () => {
  await Promise.all([api?.close(), proxy?.close()]);
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

function as(user: string, args: string[]) {
  return byoc(args, { cwd, env: { BYOC_USER: user, BYOC_STATE_DIR: stateDir } });
}

/** kubectl with nothing of byoc in its environment: all it knows comes from the kubeconfig. */
async function kubectl(kubeconfig: string, args: string[]) {
  const result = await execa(KUBECTL, ['--kubeconfig', kubeconfig, ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(cwd, 'kubectl-home') },
    cwd: '/',
    timeout: 60_000,
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

describe.skipIf(!haveKubectl)('kubectl through the kubeconfig byoc writes (exec plugin, real kubectl)', () => {
  it('merges a context into an existing kubeconfig; kubectl gets credentials from byoc kube-credential', async () => {
    // Given a kubeconfig with someone else's cluster as the current context
    const kubeconfig = path.join(tempDir({ config: EXISTING }), 'config');
    // When alice connects
    const connected = await as('alice@vendor.example', ['connect', 'k8s', 'acme-prod', '--kubeconfig', kubeconfig, '--json']);
    expect(connected.stderr).toBe('');
    expect(connected.exitCode).toBe(0);
    expect(JSON.parse(connected.stdout)).toMatchObject({ context: 'byoc-acme-prod', changed: true, switched: false, verified: true, user: 'alice@vendor.example' });
    // Then the exec plugin runs this byoc by absolute path
    const written = parse(readFileSync(kubeconfig, 'utf8'));
    expect(written.users[1].user.exec).toMatchObject({ command: process.execPath, args: [BYOC_BIN, 'kube-credential', 'acme-prod'] });
    // And the existing entries and current context are intact for kubectl
    expect((await kubectl(kubeconfig, ['config', 'current-context'])).stdout.trim()).toBe('prod-admin');
    expect((await kubectl(kubeconfig, ['config', 'get-contexts', '-o', 'name'])).stdout.trim().split('\n').sort()).toEqual(['byoc-acme-prod', 'prod-admin']);
    expect((await kubectl(kubeconfig, ['config', 'view', '--raw', '-o', 'jsonpath={.users[?(@.name=="prod-admin")].user.token}'])).stdout).toBe('abc123');

    // When kubectl asks for the version and the nodes in that context
    const before = api.requests.length;
    const version = await kubectl(kubeconfig, ['--context', 'byoc-acme-prod', 'get', '--raw', '/version']);
    expect(version.stderr).toBe('');
    expect(JSON.parse(version.stdout).gitVersion).toBe('v1.30.4-eks-a737599');
    const nodes = await kubectl(kubeconfig, ['--context', 'byoc-acme-prod', 'get', 'nodes']);
    expect(nodes.exitCode).toBe(0);
    expect(nodes.stdout).toMatch(/^NAME\s+AGE/);
    expect(nodes.stdout).toContain('ip-10-0-1-23.ec2.internal');
    // Then the API server saw alice's certificate on every request, with the tailnet name as SNI
    const seen = api.requests.slice(before);
    expect(seen.map((request) => request.path)).toEqual(expect.arrayContaining(['/version', '/api/v1/nodes?limit=500']));
    expect(new Set(seen.map((request) => request.commonName))).toEqual(new Set(['alice@vendor.example']));
    expect(new Set(seen.map((request) => request.servername))).toEqual(new Set([HOST]));
  }, 60_000);

  it('works through an HTTP CONNECT proxy that resolves the tailnet name (proxy-url in the kubeconfig)', async () => {
    const kubeconfig = path.join(tempDir(), 'config');
    const connected = await byoc(['--config', 'proxied.yaml', 'connect', 'k8s', 'acme-prod', '--kubeconfig', kubeconfig, '--json'], {
      cwd,
      env: { BYOC_USER: 'alice@vendor.example', BYOC_STATE_DIR: stateDir },
    });
    expect(connected.exitCode).toBe(0);
    const cluster = parse(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster;
    expect(cluster).toMatchObject({ server: `https://${HOST}:${api.port}`, 'proxy-url': proxy.url });
    const before = { requests: api.requests.length, targets: proxy.targets.length };
    // A new kubeconfig has this context as current: no --context needed
    const version = await kubectl(kubeconfig, ['get', '--raw', '/version']);
    expect(JSON.parse(version.stdout).major).toBe('1');
    const nodes = await kubectl(kubeconfig, ['get', 'nodes', '-o', 'name']);
    expect(nodes.stdout.trim().split('\n')).toEqual(['node/ip-10-0-1-23.ec2.internal', 'node/ip-10-0-2-45.ec2.internal', 'node/ip-10-0-3-67.ec2.internal']);
    // Every connection went through the proxy, by name, and the server saw alice
    expect(new Set(proxy.targets.slice(before.targets))).toEqual(new Set([`${HOST}:${api.port}`]));
    expect(new Set(api.requests.slice(before.requests).map((request) => request.commonName))).toEqual(new Set(['alice@vendor.example']));
  }, 60_000);

  it('once access is revoked, kubectl fails with the one line byoc prints naming what to run', async () => {
    const kubeconfig = path.join(tempDir(), 'config');
    expect((await as('alice@vendor.example', ['connect', 'k8s', 'acme-prod', '--kubeconfig', kubeconfig])).exitCode).toBe(0);
    const requests = JSON.parse((await as('alice@vendor.example', ['access', 'list', '--mine', '--json'])).stdout).requests as { id: string }[];
    expect((await as('alice@vendor.example', ['access', 'revoke', requests[0]!.id, '--comment', 'done'])).exitCode).toBe(0);
    const before = api.requests.length;
    const nodes = await kubectl(kubeconfig, ['get', 'nodes']);
    expect(nodes.exitCode).not.toBe(0);
    expect(nodes.stdout).toBe('');
    const byocLines = nodes.stderr.split('\n').filter((line) => line.startsWith('error: byoc:'));
    expect(byocLines.length).toBeGreaterThanOrEqual(1);
    expect(byocLines[0]).toMatch(/^error: byoc: your access to acme-prod \(r-\S+\) was revoked by alice@vendor\.example at \S+\. Request access again if you still need it: byoc access request acme-prod --reason "\.\.\."$/);
    expect(nodes.stderr).toContain('failed with exit code 4');
    // And no request reached the API server without a credential
    expect(api.requests.slice(before).every((request) => request.commonName === 'alice@vendor.example')).toBe(true);
  }, 60_000);
});
