import { readFile } from 'node:fs/promises';
import type { Configuration } from '../config/configuration.js';
import { ConfigError } from '../errors.js';
import type { NetworkOptions } from '../net/network.js';
import type { ProbeResult } from '../net/probe.js';
import type { TailscaleCheckResult, TailscaleTargetReport } from '../tailscale/check.js';
import type { TailscaleVerdict } from '../tailscale/classify.js';
import type { TailscaleRunner } from '../tailscale/runner.js';

export type TargetName = 'clickhouse' | 'kubernetes';

export interface Endpoint {
  name: TargetName;
  url: URL;
  /** CA bundle to trust for this endpoint (besides the system store) */
  caFile?: string;
  /** TLS server name when it differs from the URL's host */
  servername?: string;
}

export interface TargetReport {
  name: TargetName;
  host: string;
  url: string;
  path: TailscaleTargetReport['path'];
  endpoint: string | null;
  derpRegion: string | null;
  latencyMs: number | null;
  peer: TailscaleTargetReport['peer'];
  reason: string;
  detail: string | null;
  dns: ProbeResult['dns'];
  tcp: ProbeResult['tcp'];
  tls: ProbeResult['tls'];
  advice: string[];
}

export interface ConnectCheckResult {
  service: string;
  verdict: TailscaleVerdict;
  requireDirect: boolean;
  targets: TargetReport[];
  netcheck: TailscaleCheckResult['netcheck'];
  tailscale: TailscaleCheckResult['state'] & { netcheckError: string | null };
}

/** The endpoints of a configured service, filtered by `--target`. */
export function endpointsOf(configuration: Configuration, service: string, target: TargetName | 'all'): Endpoint[] {
  const config = configuration.service(service);
  const endpoints: Endpoint[] = [];
  if (config.clickhouse?.url && (target === 'all' || target === 'clickhouse')) {
    endpoints.push({
      name: 'clickhouse',
      url: new URL(config.clickhouse.url),
      ...(config.clickhouse.caFile ? { caFile: configuration.pathFromFile(config.clickhouse.caFile) } : {}),
    });
  }
  if (config.kubernetes?.server && (target === 'all' || target === 'kubernetes')) {
    endpoints.push({
      name: 'kubernetes',
      url: new URL(config.kubernetes.server),
      ...(config.kubernetes.caFile ? { caFile: configuration.pathFromFile(config.kubernetes.caFile) } : {}),
      ...(config.kubernetes.tlsServerName ? { servername: config.kubernetes.tlsServerName } : {}),
    });
  }
  if (endpoints.length === 0) {
    const wanted = target === 'all' ? 'clickhouse.url or kubernetes.server' : target === 'clickhouse' ? 'clickhouse.url' : 'kubernetes.server';
    throw new ConfigError('no_endpoints', `service ${service} has no ${wanted} to check`, { hint: `Set services.${service}.${wanted.split(' or ')[0]} in the configuration.` });
  }
  return endpoints;
}

export interface ConnectCheckDeps {
  runner: TailscaleRunner;
  network: NetworkOptions;
  now: () => number;
  signal?: AbortSignal;
}

/**
 * Checks every endpoint at once: the Tailscale path (status, ping, netcheck) and, beside it, DNS, TCP and
 * TLS as this machine sees them (resolve overrides and proxy included).
 */
export async function connectCheck(
  service: string,
  endpoints: readonly Endpoint[],
  deps: ConnectCheckDeps,
  options: { count: number; timeoutMs: number; requireDirect: boolean },
): Promise<ConnectCheckResult> {
  const [{ checkTailscalePaths }, { probeEndpoint }] = await Promise.all([import('../tailscale/check.js'), import('../net/probe.js')]);
  const hosts = endpoints.map((endpoint) => {
    const host = endpoint.url.hostname.replace(/^\[|\]$/g, '');
    const override = deps.network.resolve?.[host.toLowerCase()] ?? deps.network.resolve?.[host];
    return { name: endpoint.name, host, ...(override ? { addresses: [override] } : {}) };
  });
  const probes = endpoints.map(async (endpoint) => {
    const ca = endpoint.caFile ? await readCa(endpoint.caFile) : undefined;
    return probeEndpoint(endpoint.url, {
      ...deps.network,
      timeoutMs: options.timeoutMs,
      now: deps.now,
      ...(ca ? { ca } : {}),
      ...(endpoint.servername ? { servername: endpoint.servername } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
  });
  const [tailscale, ...probed] = await Promise.all([
    checkTailscalePaths({ runner: deps.runner, hosts, count: options.count, timeoutMs: options.timeoutMs, ...(deps.signal ? { signal: deps.signal } : {}) }),
    ...probes,
  ]);
  const targets = endpoints.map((endpoint, index): TargetReport => {
    const path = tailscale.targets[index]!;
    const probe = probed[index]!;
    return {
      name: endpoint.name,
      host: path.host,
      url: endpoint.url.href,
      path: path.path,
      endpoint: path.endpoint,
      derpRegion: path.derpRegion,
      latencyMs: path.latencyMs,
      peer: path.peer,
      reason: path.reason,
      detail: path.detail,
      dns: probe.dns,
      tcp: probe.tcp,
      tls: probe.tls,
      advice: [...path.advice, ...probeAdvice(service, endpoint, probe)],
    };
  });
  return {
    service,
    verdict: tailscale.verdict,
    requireDirect: options.requireDirect,
    targets,
    netcheck: tailscale.netcheck,
    tailscale: { ...tailscale.state, netcheckError: tailscale.netcheckError },
  };
}

/** What the DNS / TCP / TLS results mean for the person at the keyboard. */
export function probeAdvice(service: string, endpoint: Endpoint, probe: ProbeResult): string[] {
  const advice: string[] = [];
  const host = endpoint.url.hostname;
  if (!probe.dns.ok) {
    advice.push(`${host} does not resolve here: enable MagicDNS (tailscale set --accept-dns) or add network.resolve: { ${host}: <tailnet IP> }`);
    return advice;
  }
  if (!('skipped' in probe.tcp) && !probe.tcp.ok) {
    advice.push(`TCP to ${host}:${probe.tcp.port} failed (${probe.tcp.error?.code ?? 'error'}): check the service is listening and the tailnet ACLs allow this port`);
    if (probe.route.proxy) advice.push(`traffic goes through the proxy ${probe.route.proxy}: check tailscaled's userspace proxy is running`);
  }
  if (!('skipped' in probe.tls)) {
    const tls = probe.tls;
    const untrusted = tls.peerCertificate !== undefined && tls.authorized === false;
    if (untrusted) {
      advice.push(`the server certificate is not trusted (${tls.authorizationError}): set services.${service}.${endpoint.name === 'clickhouse' ? 'clickhouse' : 'kubernetes'}.caFile to the CA that signed it`);
    }
    if (tls.nameMatches === false) {
      advice.push(`the server certificate does not name ${tls.servername}${endpoint.name === 'kubernetes' ? `: set services.${service}.kubernetes.tlsServerName` : ''}`);
    }
    if (tls.peerCertificate && tls.peerCertificate.daysRemaining < 14) {
      advice.push(`the server certificate expires in ${tls.peerCertificate.daysRemaining} days (${tls.peerCertificate.validTo})`);
    }
    if (tls.error && !untrusted && tls.nameMatches !== false) advice.push(`TLS handshake failed: ${tls.error.message}`);
  }
  return advice;
}

async function readCa(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError('ca_file_unreadable', `cannot read the CA file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'Fix the caFile path in the configuration (relative paths are relative to the config file).',
    });
  }
}
