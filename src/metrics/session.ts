import { obtainCertificate, type UsableCertificate } from '../access/credentials.js';
import type { Context } from '../context.js';
import { NotAllowedError, UsageError } from '../errors.js';
import { grantWindowOf, type GrantWindow } from './caps.js';
import type { MetricsClient } from './client.js';

export interface MetricsSession {
  url: string;
  client: MetricsClient;
  certificate: UsableCertificate;
  grant: GrantWindow;
}

/** The configured Prometheus of a service, or the setting to add. */
export async function prometheusOf(ctx: Context, service: string): Promise<{ url: string; caFile?: string | undefined; tlsServerName?: string | undefined } | undefined> {
  const prometheus = (await ctx.config()).service(service).prometheus;
  return prometheus?.url ? { url: prometheus.url, caFile: prometheus.caFile, tlsServerName: prometheus.tlsServerName } : undefined;
}

/**
 * Prometheus for a service as the engineer: the grant's certificate (or the exact next step), which must cover the
 * `metrics` scope, mutual TLS through the network layer with the service's CA, each call tagged with the request.
 */
export async function openMetricsSession(ctx: Context, service: string, options: { timeoutMs: number }): Promise<MetricsSession> {
  const prometheus = await prometheusOf(ctx, service);
  if (!prometheus) {
    throw new UsageError('no_prometheus', `service ${service} has no Prometheus endpoint`, {
      hint: `Set services.${service}.prometheus.url (and caFile) to the customer's Prometheus or Thanos Query behind its proxy.`,
    });
  }
  const [{ agentFor }, { readConfiguredFile }, { openPrometheus }, { applicationFor }] = await Promise.all([
    import('../net/agents.js'),
    import('../config/files.js'),
    import('./client.js'),
    import('../clickhouse/run.js'),
  ]);
  const configuration = await ctx.config();
  const certificate = await obtainCertificate(ctx, service);
  const { request } = certificate;
  if (!request.scopes.includes('metrics')) {
    throw new NotAllowedError('scope_missing', `your grant ${request.id} for ${service} does not cover metrics (scopes: ${request.scopes.join(', ')})`, {
      hint: `Request access that names it: byoc access request ${service} --scope ${[...request.scopes, 'metrics'].join(',')} --reason "..."`,
    });
  }
  const ca = prometheus.caFile ? await readConfiguredFile(configuration, `services.${service}.prometheus.caFile`, prometheus.caFile, 'ca_file_unreadable') : undefined;
  const agent = await agentFor(ctx, new URL(prometheus.url), {
    cert: certificate.certPem,
    key: certificate.keyPem,
    ...(ca ? { ca } : {}),
    ...(prometheus.tlsServerName ? { servername: prometheus.tlsServerName } : {}),
    keepAlive: true,
  });
  const client = openPrometheus({
    url: prometheus.url,
    service,
    requestId: request.id,
    agent,
    userAgent: applicationFor(ctx.version, request.id),
    timeoutMs: options.timeoutMs,
  });
  return { url: prometheus.url, client, certificate, grant: grantWindowOf(request) };
}
