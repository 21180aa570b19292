import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../fakes/context.js';
import { testBrokerCa } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../../fakes/k8s-api-server.js';
import { K8S_HOST, k8sWorkspace } from './workspace.js';

let api: FakeKubeApi;
beforeAll(async () => {
  api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
});
afterAll(() => api.close());

const EXISTING = `# managed by hand
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
    certificate-authority: ./prod-ca.pem
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: { audience: prod }
users:
- name: prod-admin
  user:
    token: abc123
contexts:
- name: prod-admin
  context: { cluster: prod, user: prod-admin, namespace: ops }
current-context: prod-admin
preferences:
  colors: true
`;

type Kubeconfig = {
  'current-context'?: string;
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: { exec?: Record<string, unknown>; token?: string } }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  preferences?: unknown;
};

const read = (file: string) => parse(readFileSync(file, 'utf8')) as Kubeconfig;
const backupsOf = (file: string) => readdirSync(path.dirname(file)).filter((name) => name.startsWith(`${path.basename(file)}.byoc-backup-`));

describe('byoc connect k8s', () => {
  it('writes a new kubeconfig: the exec plugin by absolute path, the CA embedded, and verifies it', async () => {
    // Given approved access and no kubeconfig yet
    const { setup, stateDir, configFile, cwd } = await k8sWorkspace(api);
    const file = path.join(cwd, 'kube', 'config');
    const before = api.requests.length;
    // When connect k8s runs
    const result = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', 'kube/config', '--json'], setup);
    // Then it succeeds and reports what it wrote and what the server said
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      service: 'acme-prod',
      kubeconfig: file,
      context: 'byoc-acme-prod',
      changed: true,
      backup: null,
      switched: true,
      // server.url as configured, server.kubeconfigUrl as written (the resolve override), serverUrl its 0.1 alias
      server: { url: `https://${K8S_HOST}:${api.port}`, kubeconfigUrl: `https://127.0.0.1:${api.port}`, version: 'v1.30.4-eks-a737599' },
      serverUrl: `https://127.0.0.1:${api.port}`,
      user: 'alice@vendor.example',
      certificate: { subject: expect.stringMatching(/^CN=alice@vendor\.example, OU=urn:byoc:request:r-[0-9a-z]+$/), notAfter: expect.any(String), remainingMs: expect.any(Number) },
      verified: true,
    });
    expect(report.certificate.remainingMs).toBeGreaterThan(3_600_000);
    // And the file is private and holds the context kubectl needs
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const written = read(file);
    expect(written['current-context']).toBe('byoc-acme-prod');
    expect(written.clusters).toEqual([
      {
        name: 'byoc-acme-prod',
        cluster: {
          // kubectl cannot use byoc's network.resolve: the override address, with the name kept for TLS
          server: `https://127.0.0.1:${api.port}`,
          'certificate-authority-data': Buffer.from((await testBrokerCa()).certPem).toString('base64'),
          'tls-server-name': K8S_HOST,
        },
      },
    ]);
    expect(written.users).toEqual([
      {
        name: 'byoc-acme-prod',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: process.execPath,
            args: ['/opt/byoc/bin/byoc.js', 'kube-credential', 'acme-prod'],
            env: [
              { name: 'BYOC_STATE_DIR', value: stateDir },
              { name: 'BYOC_CONFIG', value: configFile },
            ],
            interactiveMode: 'Never',
          },
        },
      },
    ]);
    expect(written.contexts).toEqual([{ name: 'byoc-acme-prod', context: { cluster: 'byoc-acme-prod', user: 'byoc-acme-prod' } }]);
    // And the verification reached the API server as alice
    const seen = api.requests.slice(before);
    expect(seen.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /version', 'POST /apis/authentication.k8s.io/v1/selfsubjectreviews']);
    expect(seen.every((request) => request.commonName === 'alice@vendor.example')).toBe(true);
  });

  it('merges into an existing kubeconfig without touching anything else, with a backup; a re-run changes nothing', async () => {
    // Given a hand-written kubeconfig with its own cluster, user, context, current-context and preferences
    const { setup } = await k8sWorkspace(api);
    const dir = tempDir({ config: EXISTING });
    const file = path.join(dir, 'config');
    // When connect k8s runs
    const first = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file, '--json'], setup);
    expect(first.exitCode).toBe(0);
    const report = JSON.parse(first.stdout);
    // Then the other entries, the current context, preferences and the comment survive
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('# managed by hand\n')).toBe(true);
    const merged = read(file);
    expect(merged['current-context']).toBe('prod-admin');
    expect(merged.preferences).toEqual({ colors: true });
    expect(merged.clusters.map((entry) => entry.name)).toEqual(['prod', 'byoc-acme-prod']);
    expect(merged.clusters[0]!.cluster).toEqual(read(path.join(tempDir({ c: EXISTING }), 'c')).clusters[0]!.cluster);
    expect(merged.users[0]).toEqual({ name: 'prod-admin', user: { token: 'abc123' } });
    expect(merged.contexts.map((entry) => entry.name)).toEqual(['prod-admin', 'byoc-acme-prod']);
    expect(report).toMatchObject({ changed: true, switched: false, current: false });
    // And the previous file is backed up, privately, byte for byte
    expect(report.backup).toMatch(/config\.byoc-backup-\d{8}T\d{6}Z$/);
    expect(readFileSync(report.backup, 'utf8')).toBe(EXISTING);
    expect(statSync(report.backup).mode & 0o777).toBe(0o600);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // And the text output tells how to use a context that is not current
    const again = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file], setup);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/^kubeconfig\t.+\tunchanged\t$/m);
    expect(again.stdout).toContain('kubectl --context byoc-acme-prod get nodes');
    // When it runs again, Then nothing is written and no new backup appears
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(backupsOf(file)).toHaveLength(1);
  });

  it('--switch makes it the current context', async () => {
    const { setup } = await k8sWorkspace(api);
    const file = path.join(tempDir({ config: EXISTING }), 'config');
    const result = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file, '--switch', '--json'], setup);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ switched: true, current: true, changed: true });
    expect(read(file)['current-context']).toBe('byoc-acme-prod');
    // A second --switch finds nothing to do
    const again = JSON.parse((await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file, '--switch', '--json'], setup)).stdout);
    expect(again).toMatchObject({ switched: false, current: true, changed: false, backup: null });
  });

  it('--print prints a kubeconfig holding only this context and writes nothing', async () => {
    const { setup, home } = await k8sWorkspace(api);
    const before = api.requests.length;
    const result = await runCli(['connect', 'k8s', 'acme-prod', '--print', '--context-name', 'acme'], setup);
    expect(result.exitCode).toBe(0);
    const printed = parse(result.stdout) as Kubeconfig;
    expect(printed['current-context']).toBe('acme');
    expect(printed.contexts).toEqual([{ name: 'acme', context: { cluster: 'acme', user: 'acme' } }]);
    expect(printed.users[0]!.user.exec).toMatchObject({ args: ['/opt/byoc/bin/byoc.js', 'kube-credential', 'acme-prod'] });
    expect(existsSync(path.join(home, '.kube'))).toBe(false);
    expect(api.requests.length).toBe(before);
    // With --json it is the same kubeconfig as JSON (kubectl reads that too)
    const json = await runCli(['connect', 'k8s', 'acme-prod', '--print', '--json'], setup);
    expect(JSON.parse(json.stdout)).toMatchObject({ apiVersion: 'v1', kind: 'Config', 'current-context': 'byoc-acme-prod' });
  });

  it('writes to the first KUBECONFIG entry, else ~/.kube/config; BYOC_KUBE_CONTEXT names the context', async () => {
    const { setup, home } = await k8sWorkspace(api);
    // Given KUBECONFIG with two files: like kubectl, the first that exists, else the last one
    const dir = tempDir();
    const [first, second] = [path.join(dir, 'first.yaml'), path.join(dir, 'second.yaml')];
    const withEnv = { ...setup, env: { ...setup.env, KUBECONFIG: `${first}:${second}` } };
    expect(JSON.parse((await runCli(['connect', 'k8s', 'acme-prod', '--json'], withEnv)).stdout).kubeconfig).toBe(second);
    writeFileSync(first, EXISTING);
    expect(JSON.parse((await runCli(['connect', 'k8s', 'acme-prod', '--json'], withEnv)).stdout).kubeconfig).toBe(first);
    expect(read(first).contexts.map((entry) => entry.name)).toEqual(['prod-admin', 'byoc-acme-prod']);
    // Given one KUBECONFIG file, relative to the current folder
    const relative = JSON.parse((await runCli(['connect', 'k8s', 'acme-prod', '--json'], { ...setup, env: { ...setup.env, KUBECONFIG: 'kube.yaml' } })).stdout);
    expect(relative.kubeconfig).toBe(path.join(setup.cwd, 'kube.yaml'));
    const viaHome = await runCli(['connect', 'k8s', 'acme-prod', '--json'], { ...setup, env: { ...setup.env, BYOC_KUBE_CONTEXT: 'acme' } });
    const report = JSON.parse(viaHome.stdout);
    expect(report).toMatchObject({ kubeconfig: path.join(home, '.kube', 'config'), context: 'acme' });
    expect(read(report.kubeconfig).contexts.map((entry) => entry.name)).toEqual(['acme']);
  });

  it('writes proxy-url from network.proxy, socks5h as socks5 (kubectl refuses socks5h)', async () => {
    const { setup } = await k8sWorkspace(api, { resolve: false, server: 'https://k8s.tailnet.example', extraConfig: 'network:\n  proxy: socks5h://127.0.0.1:1055\n' });
    const file = path.join(tempDir(), 'config');
    // Verification fails (nothing listens on the proxy port), but the file is written first
    const result = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file, '--verbose'], setup);
    expect(read(file).clusters[0]!.cluster).toMatchObject({ server: 'https://k8s.tailnet.example', 'proxy-url': 'socks5://127.0.0.1:1055' });
    expect(read(file).clusters[0]!.cluster['tls-server-name']).toBeUndefined();
    expect(result.stderr).toContain('kubectl does not accept socks5h://');
    // the proxy being down is told apart from the API server refusing
    expect(result.stderr).toContain('cannot reach the Kubernetes API at https://k8s.tailnet.example: cannot connect to the proxy socks5h://127.0.0.1:1055 (network.proxy): connect ECONNREFUSED 127.0.0.1:1055');
    expect(result.exitCode).toBe(6);
  });

  it('still writes when verification fails, and exits with its code saying so', async () => {
    // Given a request that is still pending
    const { setup, requestId } = await k8sWorkspace(api, { access: 'pending' });
    const file = path.join(tempDir(), 'config');
    const pending = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', file], setup);
    // Then the context is written, and the exit code is 4 with the next step
    expect(existsSync(file)).toBe(true);
    expect(pending.exitCode).toBe(4);
    expect(pending.stderr).toContain(`wrote context byoc-acme-prod to ${file}, but verifying it failed`);
    expect(pending.stderr).toContain(`byoc access wait ${requestId}`);
    expect(pending.stdout).toMatch(/^server\t.+\tnot verified$/m);

    // Given an API server that does not answer, Then exit 6 and the JSON carries the error
    const { setup: down } = await k8sWorkspace(api, { server: `https://${K8S_HOST}:1` });
    const unreachable = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', path.join(tempDir(), 'config'), '--json'], down);
    expect(unreachable.exitCode).toBe(6);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({
      changed: true,
      verified: false,
      // the server is named even when it did not answer; only its version is unknown
      server: { url: `https://${K8S_HOST}:1`, kubeconfigUrl: 'https://127.0.0.1:1', version: null },
      serverUrl: 'https://127.0.0.1:1',
      error: { code: 'k8s_unreachable' },
    });
    expect(JSON.parse(unreachable.stderr).error.message).toContain('verifying it failed');
  });

  it('refuses a service without a Kubernetes endpoint (exit 3) and names the key', async () => {
    const { setup, configFile } = await k8sWorkspace(api);
    writeFileSync(configFile, 'services:\n  acme-prod:\n    clickhouse: { url: "https://ch.acme.example:8443" }\n');
    const result = await runCli(['connect', 'k8s', 'acme-prod'], setup);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('services.acme-prod.kubernetes.server');
  });
});
