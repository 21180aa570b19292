import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { issueServerCertificate, type CertificateAuthority } from '../../src/pki/ca.js';
import { generateKeyPairPem } from '../../src/pki/x509.js';
import { fieldValue, matchesFieldSelector, matchesLabelSelector } from './k8s-fixture-reader.js';

export const K8S_FIXTURES = fileURLToPath(new URL('../fixtures/k8s/', import.meta.url));

interface RecordedKubeRequest {
  method: string;
  /** path with the query string, as sent */
  path: string;
  /** CN of the verified client certificate */
  commonName: string | undefined;
  /** the TLS SNI the client sent */
  servername: string | false | null;
}

export interface FakeKubeApiOptions {
  /** a folder name under test/fixtures/k8s/, or an absolute folder */
  scenario: string;
  /** the CA client certificates must chain to, which also signs the server certificate (the broker CA) */
  ca: CertificateAuthority;
  /** DNS names in the server certificate (default: k8s.acme.example) */
  names?: string[];
  /** how POST selfsubjectreviews answers: the client CN (default), 403, or 404 (a cluster older than 1.28) */
  selfSubjectReview?: 'allowed' | 'forbidden' | 'missing';
}

export interface FakeKubeApi {
  port: number;
  /** https://127.0.0.1:<port> */
  url: string;
  /** the first name in the server certificate */
  host: string;
  /** PEM of the CA that signed the server certificate, for clients to trust */
  caPem: string;
  requests: RecordedKubeRequest[];
  /** switch the served fixture folder between tests */
  scenario: string;
  selfSubjectReview: NonNullable<FakeKubeApiOptions['selfSubjectReview']>;
  close(): Promise<void>;
}

interface ResourceInfo {
  name: string;
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
}

const RESOURCES: ResourceInfo[] = [
  { name: 'nodes', group: '', version: 'v1', kind: 'Node', namespaced: false, shortNames: ['no'] },
  { name: 'pods', group: '', version: 'v1', kind: 'Pod', namespaced: true, shortNames: ['po'] },
  { name: 'events', group: '', version: 'v1', kind: 'Event', namespaced: true, shortNames: ['ev'] },
  { name: 'persistentvolumeclaims', group: '', version: 'v1', kind: 'PersistentVolumeClaim', namespaced: true, shortNames: ['pvc'] },
  { name: 'persistentvolumes', group: '', version: 'v1', kind: 'PersistentVolume', namespaced: false, shortNames: ['pv'] },
  { name: 'namespaces', group: '', version: 'v1', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { name: 'volumeattachments', group: 'storage.k8s.io', version: 'v1', kind: 'VolumeAttachment', namespaced: false },
  { name: 'storageclasses', group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', namespaced: false, shortNames: ['sc'] },
  { name: 'csidrivers', group: 'storage.k8s.io', version: 'v1', kind: 'CSIDriver', namespaced: false },
  { name: 'leases', group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', namespaced: true },
  { name: 'daemonsets', group: 'apps', version: 'v1', kind: 'DaemonSet', namespaced: true, shortNames: ['ds'] },
  { name: 'deployments', group: 'apps', version: 'v1', kind: 'Deployment', namespaced: true, shortNames: ['deploy'] },
  { name: 'statefulsets', group: 'apps', version: 'v1', kind: 'StatefulSet', namespaced: true, shortNames: ['sts'] },
];

const GROUPS = ['apps', 'storage.k8s.io', 'coordination.k8s.io', 'authentication.k8s.io'];

/**
 * An in-process Kubernetes API server on 127.0.0.1 that, like the customer's nginx in front of the real
 * one, completes TLS only for clients whose certificate chains to the broker's CA. It serves a fixture
 * scenario folder (see test/fixtures/k8s/README.md), with the namespace, field and label selectors and
 * limit/continue paging the API server applies, 403 Status documents for what forbidden.json lists,
 * SelfSubjectReview answering with the client certificate's CN, and the legacy discovery documents kubectl
 * needs for `get nodes`. Every request is recorded with the CN that made it.
 */
export async function startFakeKubeApi(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
  const names = options.names ?? ['k8s.acme.example'];
  const keys = await generateKeyPairPem();
  const certPem = issueServerCertificate(options.ca, {
    publicKeyPem: keys.publicKeyPem,
    names,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2036-01-01T00:00:00Z'),
  });
  const requests: RecordedKubeRequest[] = [];
  const state = {
    scenario: options.scenario,
    selfSubjectReview: options.selfSubjectReview ?? ('allowed' as const),
  };
  const dir = () => (path.isAbsolute(state.scenario) ? state.scenario : path.join(K8S_FIXTURES, state.scenario));

  const server = https.createServer(
    { cert: certPem, key: keys.privateKeyPem, ca: options.ca.certPem, requestCert: true, rejectUnauthorized: true },
    (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const socket = request.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        const commonName = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
        requests.push({ method: request.method ?? 'GET', path: request.url ?? '/', commonName, servername: socket.servername });
        const answer = (status: number, body: unknown, type = 'application/json') => {
          const text = typeof body === 'string' ? body : JSON.stringify(body);
          response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) }).end(text);
        };
        try {
          route(request.method ?? 'GET', new URL(request.url ?? '/', 'https://kubernetes.invalid'), commonName, answer);
        } catch (error) {
          answer(500, status(500, 'InternalError', (error as Error).message));
        }
      });
    },
  );
  server.on('tlsClientError', () => undefined);

  function forbiddenList(): string[] {
    const file = path.join(dir(), 'forbidden.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
  }

  function route(method: string, url: URL, user: string | undefined, answer: (status: number, body: unknown, type?: string) => void): void {
    const forbidden = forbiddenList();
    const pathname = url.pathname.replace(/\/+$/, '') || '/';
    if (method === 'POST' && pathname === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      if (state.selfSubjectReview === 'missing') return answer(404, status(404, 'NotFound', 'the server could not find the requested resource'));
      if (state.selfSubjectReview === 'forbidden' || forbidden.includes('selfsubjectreviews')) {
        return answer(403, status(403, 'Forbidden', `selfsubjectreviews.authentication.k8s.io is forbidden: User "${user}" cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope`));
      }
      return answer(201, {
        kind: 'SelfSubjectReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        status: { userInfo: { username: user, groups: ['byoc:support', 'system:authenticated'] } },
      });
    }
    if (method !== 'GET') return answer(405, status(405, 'MethodNotAllowed', `${method} is not supported by the fake API server`));

    if (pathname === '/version') {
      if (forbidden.includes('version')) return answer(403, status(403, 'Forbidden', `forbidden: User "${user}" cannot get path "/version"`));
      return answer(200, readFileSync(path.join(dir(), 'version.json'), 'utf8'));
    }
    if (pathname === '/readyz' || pathname === '/livez') {
      if (forbidden.includes(pathname)) return answer(403, status(403, 'Forbidden', `forbidden: User "${user}" cannot get path "${pathname}"`));
      const file = path.join(dir(), 'readyz.txt');
      const verbose = existsSync(file) ? readFileSync(file, 'utf8') : '[+]ping ok\nreadyz check passed\n';
      const failing = /^\[-\]/m.test(verbose);
      const body = url.searchParams.has('verbose') || failing ? verbose : 'ok';
      return answer(failing ? 500 : 200, body, 'text/plain; charset=utf-8');
    }
    if (pathname === '/api') {
      return answer(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${names[0]}:443` }] });
    }
    if (pathname === '/apis') {
      return answer(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: GROUPS.map((name) => ({
          name,
          versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
          preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
        })),
      });
    }
    if (pathname === '/api/v1') return answer(200, resourceList('', 'v1'));
    const groupVersion = /^\/apis\/([^/]+)\/(v1)$/.exec(pathname);
    if (groupVersion && GROUPS.includes(groupVersion[1]!)) return answer(200, resourceList(groupVersion[1]!, groupVersion[2]!));

    const listMatch =
      /^\/api\/(v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(pathname) ??
      /^\/apis\/([^/]+\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(pathname);
    if (listMatch) {
      const [, apiVersion, namespace, resourceName] = listMatch;
      const group = apiVersion === 'v1' ? '' : apiVersion!.replace(/\/v1$/, '');
      const resource = RESOURCES.find((candidate) => candidate.name === resourceName && candidate.group === group);
      if (resource && (resource.namespaced || namespace === undefined)) return list(resource, namespace, url, user, forbidden, answer);
    }
    return answer(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }

  function list(
    resource: ResourceInfo,
    namespace: string | undefined,
    url: URL,
    user: string | undefined,
    forbidden: string[],
    answer: (status: number, body: unknown) => void,
  ): void {
    const groupLabel = resource.group ? `"${resource.group}"` : '""';
    if (forbidden.includes(resource.name) || (namespace !== undefined && forbidden.includes(`${resource.name}@${namespace}`))) {
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      return answer(403, status(403, 'Forbidden', `${resource.name}${resource.group ? `.${resource.group}` : ''} is forbidden: User "${user}" cannot list resource "${resource.name}" in API group ${groupLabel} ${scope}`, { kind: resource.name, group: resource.group }));
    }
    const file = path.join(dir(), `${resource.name}.json`);
    const body = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { items?: unknown[] }) : { items: [] };
    let items: unknown[];
    try {
      items = (body.items ?? []).filter(
        (item) =>
          (namespace === undefined || fieldValue(item, 'metadata.namespace') === namespace) &&
          matchesFieldSelector(item, url.searchParams.get('fieldSelector') ?? undefined) &&
          matchesLabelSelector(fieldValue(item, 'metadata.labels') as Record<string, string> | undefined, url.searchParams.get('labelSelector') ?? undefined),
      );
    } catch (error) {
      return answer(400, status(400, 'BadRequest', (error as Error).message));
    }
    const start = url.searchParams.has('continue') ? Number(Buffer.from(url.searchParams.get('continue')!, 'base64url').toString('utf8')) : 0;
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const end = limit > 0 ? start + limit : items.length;
    const page = items.slice(start, end);
    const metadata: Record<string, unknown> = { resourceVersion: '1835935' };
    if (end < items.length) {
      metadata.continue = Buffer.from(String(end)).toString('base64url');
      metadata.remainingItemCount = items.length - end;
    }
    const itemKind = resource.kind;
    answer(200, {
      kind: `${itemKind}List`,
      apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
      metadata,
      items: page,
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    host: names[0]!,
    caPem: options.ca.certPem,
    requests,
    get scenario() {
      return state.scenario;
    },
    set scenario(value: string) {
      state.scenario = value;
    },
    get selfSubjectReview() {
      return state.selfSubjectReview;
    },
    set selfSubjectReview(value) {
      state.selfSubjectReview = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function resourceList(group: string, version: string) {
  const groupVersion = group ? `${group}/${version}` : version;
  const resources = RESOURCES.filter((resource) => resource.group === group).map((resource) => ({
    name: resource.name,
    singularName: resource.kind.toLowerCase(),
    namespaced: resource.namespaced,
    kind: resource.kind,
    verbs: ['get', 'list', 'watch'],
    ...(resource.shortNames ? { shortNames: resource.shortNames } : {}),
  }));
  if (group === 'authentication.k8s.io') {
    resources.push({ name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function status(code: number, reason: string, message: string, details: Record<string, unknown> = {}) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}
