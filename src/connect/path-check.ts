import type { Configuration } from '../config/configuration.js';
import type { Context } from '../context.js';
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
  /** the CA bundle to trust for this endpoint (besides the system store), read from the configuration */
  ca?: string;
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
  /** `{ name, ip, route, address }` when the endpoint sits behind a subnet router: the path is the router's. */
  router: TailscaleTargetReport['router'];
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
  tailscale: TailscaleCheckResult['state'] & { netcheckError: string | null; derpMap: TailscaleCheckResult['derpMap'] };
}

/** The endpoints of a configured service, filtered by `--target`, with their CA bundles read. */
async function endpointsOf(configuration: Configuration, service: string, target: TargetName | 'all'): Promise<Endpoint[]> {
  const config = configuration.service(service);
  const { readConfiguredFile } = await import('../config/files.js');
  const ca = (kind: TargetName, file: string | undefined) => (file ? readConfiguredFile(configuration, `services.${service}.${kind}.caFile`, file, 'ca_file_unreadable') : undefined);
  const endpoints: Endpoint[] = [];
  if (config.clickhouse?.url && (target === 'all' || target === 'clickhouse')) {
    endpoints.push({
      name: 'clickhouse',
      url: new URL(config.clickhouse.url),
      ...(config.clickhouse.caFile ? { ca: await ca('clickhouse', config.clickhouse.caFile) } : {}),
    });
  }
  if (config.kubernetes?.server && (target === 'all' || target === 'kubernetes')) {
    endpoints.push({
      name: 'kubernetes',
      url: new URL(config.kubernetes.server),
      ...(config.kubernetes.caFile ? { ca: await ca('kubernetes', config.kubernetes.caFile) } : {}),
      ...(config.kubernetes.tlsServerName ? { servername: config.kubernetes.tlsServerName } : {}),
    });
  }
  if (endpoints.length === 0) {
    const wanted = target === 'all' ? 'clickhouse.url or kubernetes.server' : target === 'clickhouse' ? 'clickhouse.url' : 'kubernetes.server';
    throw new ConfigError('no_endpoints', `service ${service} has no ${wanted} to check`, { hint: `Set services.${service}.${wanted.split(' or ')[0]} in the configuration.` });
  }
  return endpoints;
}

/** The check as the CLI runs it: the service's endpoints, this invocation's network settings and tailscale. */
export async function checkService(
  ctx: Context,
  service: string,
  options: { target: TargetName | 'all'; count: number; timeoutMs: number; requireDirect: boolean },
): Promise<ConnectCheckResult> {
  const { networkOptions } = await import('../net/agents.js');
  const endpoints = await endpointsOf(await ctx.config(), service, options.target);
  const deps = { runner: await ctx.client('tailscale'), network: await networkOptions(ctx), now: () => ctx.clock.now().getTime(), signal: ctx.signal };
  return connectCheck(service, endpoints, deps, options);
}

interface ConnectCheckDeps {
  runner: TailscaleRunner;
  network: NetworkOptions;
  now: () => number;
  signal?: AbortSignal;
}

/**
 * Checks every endpoint at once: the Tailscale path (status, ping, netcheck) and, beside it, DNS, TCP and
 * TLS as this machine sees them (resolve overrides and proxy included).
 */
async function connectCheck(
  service: string,
  endpoints: readonly Endpoint[],
  deps: ConnectCheckDeps,
  options: { count: number; timeoutMs: number; requireDirect: boolean },
): Promise<ConnectCheckResult> {
  const [{ checkTailscalePaths }, { probeEndpoint }, { resolveHost }] = await Promise.all([import('../tailscale/check.js'), import('../net/probe.js'), import('../net/network.js')]);
  const hosts = endpoints.map((endpoint) => {
    const host = endpoint.url.hostname.replace(/^\[|\]$/g, '');
    const override = deps.network.resolve?.[host.toLowerCase()] ?? deps.network.resolve?.[host];
    return { name: endpoint.name, host, ...(override ? { addresses: [override] } : {}) };
  });
  const probes = endpoints.map((endpoint) =>
    probeEndpoint(endpoint.url, {
      ...deps.network,
      timeoutMs: options.timeoutMs,
      now: deps.now,
      ...(endpoint.ca ? { ca: endpoint.ca } : {}),
      ...(endpoint.servername ? { servername: endpoint.servername } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
    }),
  );
  const [tailscale, ...probed] = await Promise.all([
    checkTailscalePaths({
      runner: deps.runner,
      hosts,
      count: options.count,
      timeoutMs: options.timeoutMs,
      // A private name (split DNS to the customer's 10.x) can only be matched to a subnet router by its address.
      resolve: async (host) => (await resolveHost(host, deps.network)).addresses,
      ...(deps.signal ? { signal: deps.signal } : {}),
    }),
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
      router: path.router,
      reason: path.reason,
      detail: path.detail,
      dns: probe.dns,
      tcp: probe.tcp,
      tls: probe.tls,
      advice: [...path.advice, ...probeAdvice(service, endpoint, probe, path.router ? path.router.address : path.peer?.ips[0])],
    };
  });
  return {
    service,
    verdict: tailscale.verdict,
    requireDirect: options.requireDirect,
    targets,
    netcheck: tailscale.netcheck,
    tailscale: { ...tailscale.state, netcheckError: tailscale.netcheckError, derpMap: tailscale.derpMap },
  };
}

/** What the DNS / TCP / TLS results mean for the person at the keyboard. */
export function probeAdvice(service: string, endpoint: Endpoint, probe: ProbeResult, peerIp?: string): string[] {
  const advice: string[] = [];
  const host = endpoint.url.hostname;
  if (!probe.dns.ok) {
    // The peer Tailscale found for the name has the address to map it to; without one, say where to look it up.
    const mapping = peerIp ? `add network.resolve: { ${host}: ${peerIp} }` : `map it to its Tailscale IP (tailscale status lists it) in network.resolve: { ${host}: ... }`;
    advice.push(`${host} does not resolve here: enable MagicDNS (tailscale set --accept-dns) or ${mapping}`);
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

