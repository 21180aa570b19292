/**
 * The real ClusterReader, over @kubernetes/client-node 1.x (ESM only, imported when a command connects).
 *
 * Transport: client-node builds its own agent from a kubeconfig `proxyUrl` (hpagent or socks-proxy-agent)
 * and resolves names with the system resolver, so byoc's resolve overrides and its proxy choice (config >
 * environment, NO_PROXY, an override IP handed to the proxy) would not apply. KubeConfig.createAgent is
 * private, but every generated API asks its `default` auth method to prepare each request; byoc's auth
 * method lets the in-memory KubeConfig apply what it applies (headers) and then replaces the agent with the
 * one the network layer built (proxy + overrides + the TLS options: CA, client certificate, servername).
 * The in-memory KubeConfig therefore carries no proxyUrl.
 */
import type { Agent } from 'node:http';
import https from 'node:https';
import type { ApiException as ApiExceptionType, RequestContext } from '@kubernetes/client-node';
import { isAbort, NetworkError, NotAllowedError, RemoteError } from '../errors.js';
import type { ClusterReader, ClusterResource, ListOptions, ServerVersion } from './cluster-reader.js';
import { diagnose, endpointContext, failureOf, httpFailure } from '../net/failure.js';
import { ForbiddenError } from './errors.js';

export interface KubernetesTarget {
  /** the API server URL as configured (`services.<name>.kubernetes.server`) */
  server: string;
  /** the byoc service it belongs to, so hints name the commands to run for it */
  service?: string | undefined;
  /** PEM bundle to trust for the server; absent: the system's trust store */
  caPem?: string | undefined;
  /** the name checked against the server certificate when it differs from the URL's host */
  tlsServerName?: string | undefined;
  certPem: string;
  keyPem: string;
  /** byoc's agent for `server` (src/net), carrying the same TLS options */
  agent: Agent;
  /** per request; default 30 s */
  timeoutMs?: number | undefined;
  /** items per list page (`limit`); default 500 */
  pageSize?: number | undefined;
  /** aborts every request (Ctrl-C) */
  signal?: AbortSignal | undefined;
}

export interface KubernetesSession extends ClusterReader {
  /** Who the server thinks you are (SelfSubjectReview); undefined when the cluster forbids or lacks it. */
  whoAmI(): Promise<string | undefined>;
}

export interface KubernetesConnector {
  connect(target: KubernetesTarget): Promise<KubernetesSession>;
}

declare module '../context.js' {
  interface Clients {
    kubernetes: KubernetesConnector;
  }
}

type ListParams = { _continue?: string; limit?: number; fieldSelector?: string; labelSelector?: string };
type ListCall = (params: ListParams) => Promise<{ items?: unknown[]; metadata?: { _continue?: string } }>;

export const kubernetesConnector: KubernetesConnector = {
  async connect(target) {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'byoc',
          server: target.server,
          ...(target.caPem ? { caData: Buffer.from(target.caPem).toString('base64') } : {}),
          ...(target.tlsServerName ? { tlsServerName: target.tlsServerName } : {}),
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'byoc', certData: Buffer.from(target.certPem).toString('base64'), keyData: Buffer.from(target.keyPem).toString('base64') }],
      contexts: [{ name: 'byoc', cluster: 'byoc', user: 'byoc' }],
      currentContext: 'byoc',
    });
    const timeoutMs = target.timeoutMs ?? 30_000;
    const requestSignal = () => (target.signal ? AbortSignal.any([target.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs));
    const auth = {
      getName: () => 'byoc',
      async applySecurityAuthentication(context: RequestContext) {
        await kc.applySecurityAuthentication(context);
        context.setAgent(target.agent);
        context.setSignal(requestSignal());
      },
    };
    const configuration = k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(target.server.replace(/\/+$/, ''), {}),
      authMethods: { default: auth },
    });
    const core = new k8s.CoreV1Api(configuration);
    const apps = new k8s.AppsV1Api(configuration);
    const storage = new k8s.StorageV1Api(configuration);
    const coordination = new k8s.CoordinationV1Api(configuration);
    const authentication = new k8s.AuthenticationV1Api(configuration);
    const versionApi = new k8s.VersionApi(configuration);
    const pageSize = target.pageSize ?? 500;
    const translate = (error: unknown, what: { resource: string; namespace?: string | undefined; verb: string }) =>
      translateKubernetesError(error, target.server, what, k8s.ApiException, target.signal, target.service);

    const calls: Record<ClusterResource, (namespace: string | undefined) => ListCall> = {
      nodes: () => (params) => core.listNode(params),
      persistentvolumes: () => (params) => core.listPersistentVolume(params),
      pods: (namespace) => (params) => (namespace ? core.listNamespacedPod({ namespace, ...params }) : core.listPodForAllNamespaces(params)),
      events: (namespace) => (params) => (namespace ? core.listNamespacedEvent({ namespace, ...params }) : core.listEventForAllNamespaces(params)),
      persistentvolumeclaims: (namespace) => (params) =>
        namespace ? core.listNamespacedPersistentVolumeClaim({ namespace, ...params }) : core.listPersistentVolumeClaimForAllNamespaces(params),
      leases: (namespace) => (params) => (namespace ? coordination.listNamespacedLease({ namespace, ...params }) : coordination.listLeaseForAllNamespaces(params)),
      daemonsets: (namespace) => (params) => (namespace ? apps.listNamespacedDaemonSet({ namespace, ...params }) : apps.listDaemonSetForAllNamespaces(params)),
      deployments: (namespace) => (params) => (namespace ? apps.listNamespacedDeployment({ namespace, ...params }) : apps.listDeploymentForAllNamespaces(params)),
      statefulsets: (namespace) => (params) => (namespace ? apps.listNamespacedStatefulSet({ namespace, ...params }) : apps.listStatefulSetForAllNamespaces(params)),
      volumeattachments: () => (params) => storage.listVolumeAttachment(params),
      storageclasses: () => (params) => storage.listStorageClass(params),
      csidrivers: () => (params) => storage.listCSIDriver(params),
    };

    return {
      async list(resource: ClusterResource, namespace?: string, options: ListOptions = {}) {
        const call = calls[resource](namespace);
        const items: unknown[] = [];
        let token: string | undefined;
        do {
          let page;
          try {
            page = await call({
              limit: pageSize,
              ...(token ? { _continue: token } : {}),
              ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
              ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
            });
          } catch (error) {
            throw translate(error, { resource, namespace, verb: 'list' });
          }
          items.push(...(page.items ?? []));
          token = page.metadata?._continue || undefined;
        } while (token);
        return { items };
      },

      async raw(path: string) {
        const url = new URL(`${target.server.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`);
        try {
          return await get(url, target, requestSignal());
        } catch (error) {
          throw translate(error, { resource: url.pathname, verb: 'get' });
        }
      },

      async version(): Promise<ServerVersion> {
        try {
          const info = await versionApi.getCode();
          return { gitVersion: info.gitVersion, major: info.major, minor: info.minor };
        } catch (error) {
          throw translate(error, { resource: '/version', verb: 'get' });
        }
      },

      async whoAmI() {
        try {
          const review = await authentication.createSelfSubjectReview({
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
          });
          return review.status?.userInfo?.username || undefined;
        } catch (error) {
          // Older than 1.28 (404) or not granted (403): the caller shows the certificate's CN instead.
          if (error instanceof k8s.ApiException && [403, 404].includes(error.code)) return undefined;
          throw translate(error, { resource: 'selfsubjectreviews', verb: 'create' });
        }
      },
    };
  },
};

/** A GET through the same agent; any status is returned, only transport failures throw. */
function get(url: URL, target: KubernetesTarget, signal: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { agent: target.agent, signal, headers: { accept: 'application/json, */*' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** The Status message the API server sent with a failure, or the body's first line. */
function statusMessage(body: unknown): string {
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  try {
    const parsed = JSON.parse(text) as { message?: string };
    if (parsed.message) return parsed.message;
  } catch {
    // not JSON: an nginx error page or plain text
  }
  return text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * Maps client-node and transport failures onto byoc's error kinds: 403 is a ForbiddenError (diagnostics
 * skip that check), our certificate refused is not-allowed (4), other HTTP failures are remote (5); the path
 * (proxy, DNS, TCP, trust in the server's certificate, time-outs) is network (6), classified as for ClickHouse.
 */
export function translateKubernetesError(
  error: unknown,
  server: string,
  what: { resource: string; namespace?: string | undefined; verb: string },
  ApiException: new (...args: never[]) => ApiExceptionType<unknown>,
  signal?: AbortSignal,
  service?: string,
): Error {
  if (error instanceof ForbiddenError) return error;
  // Without a service (a caller outside the service flow) the hints say what to look at instead of a placeholder.
  const pathCheck = service ? `the path: byoc connect check ${service} --target kubernetes` : `the network path to ${server}`;
  if (error instanceof ApiException) {
    const message = statusMessage(error.body);
    if (error.code === 403) return new ForbiddenError(what.resource, what.namespace, { verb: what.verb, ...(message ? { message } : {}) });
    if (error.code === 401 || (error.code === 400 && /SSL certificate|certificate/i.test(message))) {
      return new NotAllowedError('k8s_certificate_refused', `the Kubernetes API at ${server} did not accept your certificate (HTTP ${error.code}${message ? `: ${message}` : ''})`, {
        hint: `Check it is valid${service ? ` (byoc cert show ${service})` : ''} and that the customer trusts the broker CA for the API endpoint.`,
      });
    }
    if ([502, 503, 504].includes(error.code) && typeof error.body === 'string' && /<html/i.test(error.body)) {
      // A page from the load balancer or proxy in front of the API server, not the API server's own Status.
      const context = endpointContext({ endpoint: 'kubernetes', url: server, service });
      const diagnosis = diagnose(httpFailure(error.code, '', error.body, context), context);
      return new RemoteError(diagnosis.code, diagnosis.message, { hint: diagnosis.hint });
    }
    return new RemoteError('k8s_error', `the Kubernetes API answered ${error.code} to ${what.verb} ${what.resource}${message ? `: ${message}` : ''}`, {
      hint: service ? `Retry; if it persists, check the API server health: byoc k8s diagnose ${service} health` : `Retry; if it persists, check the health of the API server at ${server}.`,
    });
  }
  if (!(error instanceof Error)) return new RemoteError('k8s_error', String(error));
  if (isAbort(error) || error.name === 'AbortError' || (error as { type?: string }).type === 'aborted') {
    if (signal?.aborted) return error;
    return new NetworkError('k8s_timeout', `the Kubernetes API at ${server} did not answer in time`, {
      hint: `Check ${pathCheck}.`,
    });
  }
  // node-fetch wraps the socket error as "request to <url> failed, reason: <why>", keeping only its code.
  const detail = (/reason: (.*)$/.exec(error.message.split('\n')[0]!)?.[1] ?? error.message.split('\n')[0]!).trim();
  const context = endpointContext({ endpoint: 'kubernetes', url: server, service });
  const failure = failureOf(Object.assign(new Error(detail), { code: (error as { code?: string }).code }), context);
  if (failure) {
    const diagnosis = diagnose(failure, context);
    const ErrorClass = diagnosis.kind === 'not-allowed' ? NotAllowedError : diagnosis.kind === 'remote' ? RemoteError : NetworkError;
    return new ErrorClass(diagnosis.code, diagnosis.message, { hint: diagnosis.hint, cause: error });
  }
  return new RemoteError('k8s_error', `the Kubernetes API request failed: ${detail}`);
}
