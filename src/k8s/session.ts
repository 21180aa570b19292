import type { UsableCertificate } from '../access/credentials.js';
import type { ServiceConfig } from '../config/schema.js';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import type { KubernetesSession } from './client.js';

export interface KubernetesEndpoint {
  server: string;
  caFile?: string | undefined;
  /** PEM read from caFile */
  caPem?: string | undefined;
  tlsServerName?: string | undefined;
}

export interface KubernetesAccess {
  endpoint: KubernetesEndpoint;
  certificate: UsableCertificate;
  session: KubernetesSession;
}

/** The service's Kubernetes endpoint with its CA read, or a ConfigError saying which key to set. */
export async function kubernetesEndpoint(ctx: Context, service: string): Promise<KubernetesEndpoint> {
  const configuration = await ctx.config();
  const settings: ServiceConfig['kubernetes'] = configuration.service(service).kubernetes;
  if (!settings?.server) {
    throw new ConfigError('no_kubernetes', `service ${service} has no Kubernetes API endpoint`, {
      hint: `Set services.${service}.kubernetes.server (and caFile) in the byoc configuration.`,
    });
  }
  let caPem: string | undefined;
  let caFile: string | undefined;
  if (settings.caFile) {
    caFile = configuration.pathFromFile(settings.caFile);
    const { readConfiguredFile } = await import('../config/files.js');
    caPem = await readConfiguredFile(configuration, `services.${service}.kubernetes.caFile`, settings.caFile, 'ca_file_unreadable');
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError('ca_file_invalid', `services.${service}.kubernetes.caFile: ${caFile} holds no PEM certificate`, {
        hint: 'Point caFile at a PEM file (-----BEGIN CERTIFICATE-----).',
      });
    }
  }
  return { server: settings.server, caFile, caPem, tlsServerName: settings.tlsServerName };
}

/**
 * Connects to the service's Kubernetes API as the engineer: the certificate from obtainCertificate, the
 * configured CA and server name, and byoc's network layer (proxy, resolve overrides) as the transport.
 */
export async function openKubernetes(ctx: Context, service: string, options: { certificate?: UsableCertificate; timeoutMs?: number } = {}): Promise<KubernetesAccess> {
  const endpoint = await kubernetesEndpoint(ctx, service);
  const [{ obtainCertificate }, { agentFor }] = await Promise.all([import('../access/credentials.js'), import('../net/agents.js')]);
  const certificate = options.certificate ?? (await obtainCertificate(ctx, service));
  const agent = await agentFor(ctx, new URL(endpoint.server), {
    cert: certificate.certPem,
    key: certificate.keyPem,
    ...(endpoint.caPem ? { ca: endpoint.caPem } : {}),
    ...(endpoint.tlsServerName ? { servername: endpoint.tlsServerName } : {}),
    keepAlive: true,
  });
  const connector = await ctx.client('kubernetes');
  const session = await connector.connect({
    server: endpoint.server,
    service,
    caPem: endpoint.caPem,
    tlsServerName: endpoint.tlsServerName,
    certPem: certificate.certPem,
    keyPem: certificate.keyPem,
    agent,
    signal: ctx.signal,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  return { endpoint, certificate, session };
}
