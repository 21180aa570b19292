import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkError, NotAllowedError, RemoteError } from '../../../src/errors.js';
import { kubernetesConnector, translateKubernetesError, type KubernetesTarget } from '../../../src/k8s/client.js';
import { runDiagnostics } from '../../../src/k8s/diagnose.js';
import { ForbiddenError } from '../../../src/k8s/errors.js';
import { createAgent, type ConnectionOptions } from '../../../src/net/network.js';
import { createCa, issueClientCertificate } from '../../../src/pki/ca.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { startConnectProxy, type FakeConnectProxy } from '../../fakes/connect-proxy.js';
import { fixtureReader } from '../../fakes/k8s-fixture-reader.js';
import { K8S_FIXTURES, startFakeKubeApi, type FakeKubeApi } from '../../fakes/k8s-api-server.js';

const HOST = 'k8s.acme.example';
const NOW = new Date('2025-06-01T12:00:00Z');
let api: FakeKubeApi;
let proxy: FakeConnectProxy;
let client: { certPem: string; keyPem: string };

beforeAll(async () => {
  const ca = await testBrokerCa();
  api = await startFakeKubeApi({ scenario: 'healthy', ca });
  proxy = await startConnectProxy({ [HOST]: '127.0.0.1' });
  const keys = await generateKeyPairPem();
  const issued = issueClientCertificate(ca, {
    csrPem: createCsr(keys, [{ name: 'commonName', value: 'alice@vendor.example' }]),
    identity: 'alice@vendor.example',
    requestId: 'r-test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
  });
  client = { certPem: issued.certPem, keyPem: keys.privateKeyPem };
});
afterAll(async () => {
  await Promise.all([api.close(), proxy.close()]);
});

/** A session the way byoc builds one: the server by its tailnet name, reached through the network layer. */
async function connect(options: { proxy?: string; resolve?: Record<string, string>; server?: string; ca?: string; pageSize?: number; timeoutMs?: number } = {}) {
  const server = options.server ?? `https://${HOST}:${api.port}`;
  const tls: ConnectionOptions = { ca: options.ca ?? api.caPem, cert: client.certPem, key: client.keyPem };
  const agent = await createAgent(new URL(server), { proxy: options.proxy, resolve: options.resolve ?? { [HOST]: '127.0.0.1' }, env: {} }, tls);
  const target: KubernetesTarget = { server, caPem: options.ca ?? api.caPem, certPem: client.certPem, keyPem: client.keyPem, agent, pageSize: options.pageSize, timeoutMs: options.timeoutMs };
  return kubernetesConnector.connect(target);
}

const since = (start: number) => api.requests.slice(start);

describe('the client-node ClusterReader', () => {
  it('reaches the server by its tailnet name through the resolve override, with the client certificate', async () => {
    // Given the API server known only as k8s.acme.example, which network.resolve maps to loopback
    api.scenario = 'healthy';
    const start = api.requests.length;
    const session = await connect();
    // When the version is asked
    const version = await session.version();
    // Then the server answered, and saw the engineer's certificate and the tailnet name as SNI
    expect(version.gitVersion).toBe('v1.30.4-eks-a737599');
    expect(since(start)).toEqual([expect.objectContaining({ method: 'GET', path: '/version', commonName: 'alice@vendor.example', servername: HOST })]);
  });

  it('follows continue tokens until the list is complete, and sends field and label selectors', async () => {
    api.scenario = 'healthy';
    const session = await connect({ pageSize: 2 });
    const start = api.requests.length;
    // When all nodes are listed with pages of two
    const nodes = await session.list('nodes');
    // Then all three come back, in two requests, the second carrying the continue token
    expect(nodes.items.map((node) => (node as { metadata: { name: string } }).metadata.name)).toEqual([
      'ip-10-0-1-23.ec2.internal',
      'ip-10-0-2-45.ec2.internal',
      'ip-10-0-3-67.ec2.internal',
    ]);
    const paths = since(start).map((request) => request.path);
    expect(paths).toHaveLength(2);
    expect(paths[0]).toBe('/api/v1/nodes?limit=2');
    expect(paths[1]).toMatch(/^\/api\/v1\/nodes\?(?=.*limit=2)(?=.*continue=)/);
    // And selectors and namespaces reach the server
    const warnings = await session.list('events', undefined, { fieldSelector: 'type=Warning' });
    expect(warnings.items.every((event) => (event as { type: string }).type === 'Warning')).toBe(true);
    const systemPods = await session.list('pods', 'kube-system', { labelSelector: 'k8s-app=aws-node' });
    expect(systemPods.items.length).toBeGreaterThan(0);
    expect(since(start).map((request) => decodeURIComponent(request.path))).toEqual(
      expect.arrayContaining(['/api/v1/events?fieldSelector=type=Warning&limit=2', '/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app=aws-node&limit=2']),
    );
  });

  it('turns a 403 into a ForbiddenError carrying the server message', async () => {
    api.scenario = 'forbidden';
    const session = await connect();
    const error = await session.list('volumeattachments').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as ForbiddenError).message).toContain('cannot list resource "volumeattachments" in API group "storage.k8s.io"');
    expect((error as ForbiddenError).kubectl).toBe('kubectl auth can-i list volumeattachments -A');
  });

  it('returns raw responses with their status (readyz failing is data, not an error)', async () => {
    api.scenario = 'readyz-failing';
    const session = await connect();
    const readyz = await session.raw('/readyz?verbose');
    expect(readyz.status).toBe(500);
    expect(readyz.body).toContain('[-]etcd failed');
  });

  it('says who the server sees, and nothing when SelfSubjectReview is forbidden or missing', async () => {
    api.scenario = 'healthy';
    const session = await connect();
    expect(await session.whoAmI()).toBe('alice@vendor.example');
    api.selfSubjectReview = 'forbidden';
    expect(await session.whoAmI()).toBeUndefined();
    api.selfSubjectReview = 'missing';
    expect(await session.whoAmI()).toBeUndefined();
    api.selfSubjectReview = 'allowed';
  });

  it.each(['healthy', 'volume-attach-error', 'failed-mount', 'node-not-ready', 'aws-node-crashloop', 'pending-pods', 'readyz-failing', 'degraded-workloads', 'forbidden'])(
    'diagnoses %s over HTTPS exactly as over the fixture files',
    async (scenario) => {
      // Given the same scenario served by the API server and read from its files
      api.scenario = scenario;
      const session = await connect({ pageSize: 3 });
      const options = { areas: ['volumes', 'nodes', 'health'] as const, since: 3_600_000, now: NOW };
      // When both run the diagnostics
      const [overHttps, fromFiles] = await Promise.all([runDiagnostics(session, options), runDiagnostics(fixtureReader(path.join(K8S_FIXTURES, scenario)), options)]);
      // Then client-node's typed objects (Date timestamps, renamed fields) change nothing; a SKIPPED row
      // quotes the API server's own 403 message where the files can only name the resource
      const skippedEvidence = (checks: typeof overHttps) => checks.map((check) => (check.status === 'SKIPPED' ? { ...check, evidence: 'skipped' } : check));
      expect(skippedEvidence(overHttps)).toEqual(skippedEvidence(fromFiles));
      for (const check of overHttps.filter((row) => row.status === 'SKIPPED')) expect(check.evidence).toMatch(/is forbidden: User "alice@vendor\.example" cannot list .*\(HTTP 403\)/);
      if (scenario === 'forbidden') expect(overHttps.filter((row) => row.status === 'SKIPPED').map((row) => row.id)).toEqual(['volumes.volumeattachments']);
    },
  );

  it('goes through an HTTP CONNECT proxy, which receives the override address', async () => {
    api.scenario = 'healthy';
    const session = await connect({ proxy: proxy.url });
    const before = proxy.targets.length;
    expect((await session.version()).major).toBe('1');
    expect(proxy.targets.slice(before)).toEqual([`127.0.0.1:${api.port}`]);
  });

  it('goes through the proxy with the name when there is no override (the proxy resolves it)', async () => {
    const session = await connect({ proxy: proxy.url, resolve: {} });
    const before = proxy.targets.length;
    await session.version();
    expect(proxy.targets.slice(before)).toEqual([`${HOST}:${api.port}`]);
  });

  it('maps an unreachable server to a network error (exit 6)', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const session = await connect({ server: `https://${HOST}:${port}` });
    const error = await session.list('nodes').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).message).toContain('ECONNREFUSED');
  });

  it('gives up on a server that accepts but never answers, as a network time-out', async () => {
    // Given a socket that accepts connections and stays silent
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const session = await connect({ server: `https://${HOST}:${port}`, timeoutMs: 200 });
      const started = Date.now();
      const [listed, raw] = await Promise.all([session.list('nodes').catch((caught: unknown) => caught), session.raw('/readyz?verbose').catch((caught: unknown) => caught)]);
      expect(listed).toBeInstanceOf(NetworkError);
      expect((listed as NetworkError).code).toBe('k8s_timeout');
      expect((raw as NetworkError).code).toBe('k8s_timeout');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('maps an untrusted server certificate to a network error (exit 6) naming caFile, not a refusal of ours', async () => {
    const { ca: other } = await createCa(new Date('2026-01-01T00:00:00Z'), 'another CA');
    const session = await connect({ ca: other.certPem });
    const error = await session.version().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: 'tls_untrusted', exitCode: 6 });
    expect((error as NetworkError).hint).toMatch(/^Set the CA file for https:\/\/.+ to the CA that signed the certificate of /);
  });

  it('maps other HTTP failures to a remote error, and 401 to not allowed', async () => {
    const { ApiException } = await import('@kubernetes/client-node');
    const status = (code: number, message: string) => JSON.stringify({ kind: 'Status', code, message });
    const server = 'https://k8s.acme.example';
    const what = { resource: 'nodes', verb: 'list' };
    expect(translateKubernetesError(new ApiException(500, 'x', status(500, 'etcdserver: request timed out'), {}), server, what, ApiException)).toBeInstanceOf(RemoteError);
    const refused = translateKubernetesError(new ApiException(401, 'x', status(401, 'Unauthorized'), {}), server, what, ApiException);
    expect(refused).toBeInstanceOf(NotAllowedError);
    expect(refused.message).toContain('did not accept your certificate');
    const nginx = translateKubernetesError(new ApiException(400, 'x', '<html><center>No required SSL certificate was sent</center></html>', {}), server, what, ApiException);
    expect(nginx).toBeInstanceOf(NotAllowedError);
    expect(nginx.message).toContain('No required SSL certificate was sent');
  });
});
