import type { Agent, IncomingMessage } from 'node:http';
import { abortReason, NetworkError, NotAllowedError, RemoteError } from '../errors.js';
import { diagnose, failureOf, httpFailure, type Diagnosis, type DiagnosisContext } from '../net/failure.js';
import { endpointUrl, type MetricsCall } from './endpoints.js';
import { readAtMost } from '../util/stream.js';

/** Where a service's Prometheus is and how to reach it (the grant's certificate is in the agent). */
export interface PrometheusTarget {
  /** services.<service>.prometheus.url */
  url: string;
  service: string;
  /** the grant's request: sent as X-Byoc-Request so the customer's proxy log names it */
  requestId: string;
  agent: Agent;
  /** byoc/<version> (request r-...), as the ClickHouse path sends it */
  userAgent: string;
  timeoutMs: number;
  /** the most bytes an answer may have (a result beyond it is refused, not cut) */
  maxBytes?: number | undefined;
}

/** Prometheus's answer envelope, `data` as the endpoint shapes it. */
interface PrometheusAnswer<T = unknown> {
  data: T;
  warnings: string[];
}

/** The narrow interface the metrics commands need: one read call of the allowlist. */
export interface MetricsClient {
  call<T = unknown>(call: MetricsCall, signal?: AbortSignal): Promise<PrometheusAnswer<T>>;
  close(): void;
}

/** Prometheus's own error (`{"status":"error","errorType":...}`): the server refused or failed the query itself. */
class PrometheusError extends RemoteError {
  constructor(
    readonly errorType: string,
    message: string,
    hint: string,
  ) {
    super('prometheus_error', message, { hint });
  }
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

const HINTS: Record<string, string> = {
  bad_data: 'Check the PromQL (and matchers: {job="..."}); byoc metrics labels SERVICE lists label names.',
  timeout: 'Narrow the query (fewer series, a shorter --since, a larger --step) or raise --timeout.',
  execution: 'Narrow the query: Prometheus stopped it (too many samples or series); use a larger --step or a label matcher.',
  canceled: 'Retry; Prometheus cancelled the query.',
  unavailable: 'Prometheus is not ready (starting or replaying its WAL): retry in a minute.',
  internal: 'Retry; if it persists, the customer checks Prometheus.',
};

/**
 * The Prometheus HTTP API over node:https on the network layer's agent (proxy, resolve overrides, the grant's
 * certificate for mutual TLS): GET only, each path from the allowlist (endpoints.ts). Written here rather than with
 * a Prometheus client library: those build paths from their own tables (admin and remote-write included) and bring
 * their own HTTP stack, which would bypass the agent.
 */
export function openPrometheus(target: PrometheusTarget): MetricsClient {
  const transport = new URL(target.url).protocol === 'https:' ? import('node:https') : import('node:http');
  const maxBytes = target.maxBytes ?? DEFAULT_MAX_BYTES;
  const context = contextOf(target);
  const place = { host: context.host, port: context.port };

  const send = async (url: URL, signal: AbortSignal | undefined): Promise<IncomingMessage> => {
    const { request } = await transport;
    return new Promise<IncomingMessage>((resolve, reject) => {
      signal?.throwIfAborted();
      const req = request(url, {
        method: 'GET',
        agent: target.agent,
        headers: { 'User-Agent': target.userAgent, 'X-Byoc-Request': target.requestId, Accept: 'application/json' },
        timeout: target.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'BYOC_TIMEOUT' })));
      req.end();
    });
  };

  const read = async (response: IncomingMessage): Promise<string> => {
    const received = await readAtMost(response as AsyncIterable<Buffer>, maxBytes);
    if (!received) {
      response.destroy();
      throw new RemoteError('metrics_too_large', `the answer from Prometheus at ${target.url} is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB`, {
        hint: 'Narrow the query: a label matcher, sum by (...), a shorter --since or a larger --step.',
      });
    }
    return received.toString('utf8');
  };

  return {
    async call<T>(call: MetricsCall, signal?: AbortSignal): Promise<PrometheusAnswer<T>> {
      const url = endpointUrl(target.url, call);
      let response: IncomingMessage;
      let body: string;
      try {
        response = await send(url, signal);
        body = await read(response);
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal);
        if (error instanceof RemoteError) throw error;
        throw pathError(error, target, context, place);
      }
      const status = response.statusCode ?? 0;
      const envelope = parseEnvelope(body);
      if (envelope?.status === 'success' && status >= 200 && status < 300) {
        return { data: envelope.data as T, warnings: Array.isArray(envelope.warnings) ? envelope.warnings.map(String) : [] };
      }
      if (envelope?.status === 'error' && typeof envelope.errorType === 'string') {
        const type = envelope.errorType;
        throw new PrometheusError(type, `Prometheus refused the ${call.endpoint.replace('_', ' ')} call (${type}): ${String(envelope.error ?? 'no detail')}`, HINTS[type] ?? HINTS.internal!);
      }
      // Not Prometheus's own answer: the proxy in front (an nginx 403 for a certificate without the metrics
      // scope or a path outside its allowlist), a gateway error, or something else at that URL.
      if (status < 200 || status >= 300) throw asError(diagnose(httpFailure(status, response.statusMessage ?? '', body, place), context));
      throw new RemoteError('metrics_bad_answer', `${target.url} answered ${url.pathname} with something that is not the Prometheus API (${body.slice(0, 80).replace(/\s+/g, ' ')})`, {
        hint: `Check services.${target.service}.prometheus.url points at Prometheus or Thanos Query itself.`,
      });
    },
    close() {
      target.agent.destroy();
    },
  };
}

function parseEnvelope(body: string): { status?: unknown; data?: unknown; warnings?: unknown[]; errorType?: unknown; error?: unknown } | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function contextOf(target: PrometheusTarget): DiagnosisContext {
  const parsed = new URL(target.url);
  const where = `services.${target.service}.prometheus`;
  return {
    what: 'Prometheus',
    url: target.url,
    prefix: 'metrics',
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port) || (parsed.protocol === 'https:' ? 443 : 80),
    urlSetting: `${where}.url`,
    caSetting: `${where}.caFile`,
    servernameSetting: `${where}.tlsServerName`,
    check: `byoc doctor ${target.service}`,
    certificateStep: `byoc cert get ${target.service}`,
    operatorStep: `byoc access operator-config ${target.requestId}`,
  };
}

function pathError(error: unknown, target: PrometheusTarget, context: DiagnosisContext, place: { host: string; port: number | undefined }): Error {
  const onPath = failureOf(error, place);
  if (onPath) return asError(diagnose(onPath, context));
  if ((error as { code?: string }).code === 'BYOC_TIMEOUT') {
    return new NetworkError('metrics_timeout', `Prometheus at ${target.url} did not answer in ${Math.round(target.timeoutMs / 1000)}s`, {
      hint: `Narrow the query or raise --timeout; if nothing answers, check the path (byoc doctor ${target.service}).`,
      cause: error,
    });
  }
  return new NetworkError('metrics_unreachable', `cannot reach Prometheus at ${target.url}: ${(error as Error).message}`, { hint: `Check the path: byoc doctor ${target.service}.`, cause: error });
}

function asError(diagnosis: Diagnosis): Error {
  const ErrorClass = diagnosis.kind === 'not-allowed' ? NotAllowedError : diagnosis.kind === 'remote' ? RemoteError : NetworkError;
  return new ErrorClass(diagnosis.code, diagnosis.message, { hint: diagnosis.hint });
}
