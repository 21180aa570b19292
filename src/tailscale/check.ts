import { isIP } from 'node:net';
import { defaultOf } from '../command/definition.js';
import { isAbort, UsageError } from '../errors.js';
import { SHARED } from '../options.js';
import {
  adviceFor,
  classifyPath,
  findPeer,
  findRoute,
  pingDownState,
  tailscaleState,
  verdictOf,
  type PathClassification,
  type TailscaleState,
  type TailscaleVerdict,
} from './classify.js';
import {
  parseDerpMapJson,
  parseNetcheckJson,
  parsePingOutput,
  readStatusResult,
  regionCodesOf,
  staticDerpMap,
  type DerpMap,
  type Netcheck,
  type PingOutput,
  type TailscaleDaemonFailure,
  type TailscalePeer,
  type TailscaleStatus,
} from './parse.js';
import { TailscaleNotInstalledError, TailscaleTimeoutError, type TailscaleRunner } from './runner.js';

interface TailscaleCheckHost {
  /** The endpoint's role, for the report (`clickhouse`, `kubernetes`). */
  name: string;
  /** MagicDNS name or IP literal, as configured. */
  host: string;
  /** Addresses the caller resolved for `host` (e.g. `network.resolve` overrides); matched against Tailscale IPs. */
  addresses?: string[];
}

export interface CheckTailscalePathsOptions {
  runner: TailscaleRunner;
  hosts: readonly TailscaleCheckHost[];
  /** Pings per host (`tailscale ping -c`); it stops early at the first direct pong. Default: connect.count's. */
  count?: number;
  /** Per-ping timeout (`tailscale ping --timeout`). Default: connect.timeout's. */
  timeoutMs?: number;
  /**
   * Resolves a configured name that is neither a peer's MagicDNS name nor a given address (e.g. the customer's
   * `ch.acme.internal` answering 10.20.1.15 through split DNS), so it can still be matched to a subnet route.
   */
  resolve?: (host: string) => Promise<string[]>;
  /** Deadline for `tailscale status --json`. Default 10 s. */
  statusTimeoutMs?: number;
  /** Deadline for `tailscale netcheck --format=json` (it probes every DERP region). Default 20 s. */
  netcheckTimeoutMs?: number;
  signal?: AbortSignal;
}

interface TailscaleTargetPeer {
  dnsName: string;
  hostName: string;
  ips: string[];
  online: boolean;
}

/** The subnet router an endpoint's address sits behind; the path reported is the path to the router. */
interface TailscaleRouter {
  /** The router's HostName, as `via router <name>` says it. */
  name: string;
  /** Its Tailscale IP: what was pinged. */
  ip: string | null;
  /** Its route that holds the endpoint's address (`10.20.0.0/16`). */
  route: string;
  /** The endpoint's address behind the router. */
  address: string;
}

export interface TailscaleTargetReport extends Omit<PathClassification, 'reason'> {
  name: string;
  host: string;
  /** The peer pinged: the endpoint itself, or the subnet router in front of it. */
  peer: TailscaleTargetPeer | null;
  /** Set when the endpoint is reached through a subnet router (`via router <name>`). */
  router: TailscaleRouter | null;
  /** What was (or would be) passed to `tailscale ping`. */
  pingTarget: string | null;
  reason: PathClassification['reason'] | 'tailscale-down';
  advice: string[];
}

export interface TailscaleCheckResult {
  state: TailscaleState;
  /** null when tailscale is down or netcheck failed (then netcheckError says why). */
  netcheck: Netcheck | null;
  netcheckError: string | null;
  /** Where DERP region codes came from: the running tailscale's map, or the static fallback (with why). */
  derpMap: { source: DerpMap['source']; regions: number; error: string | null } | null;
  targets: TailscaleTargetReport[];
  verdict: TailscaleVerdict;
}

const DEFAULT_STATUS_TIMEOUT_MS = 10_000;
const DEFAULT_NETCHECK_TIMEOUT_MS = 20_000;
const DERP_MAP_TIMEOUT_MS = 5000;
/** The CLI sleeps 1 s after each pong; on top of that, room for start-up. */
const PING_PAUSE_MS = 1000;
const PING_GRACE_MS = 5000;

/**
 * Reads `tailscale status --json` once, then runs `tailscale netcheck --format=json` once and one
 * `tailscale ping` per found peer, all at the same time (pinging forces path discovery, so the answer is
 * fresh). When tailscaled is not usable nothing else runs and the verdict is `tailscale-down`.
 */
export async function checkTailscalePaths(options: CheckTailscalePathsOptions): Promise<TailscaleCheckResult> {
  const { runner, hosts, signal } = options;
  // The defaults are the declared ones (src/options.ts), which help, the README and `connect check` show.
  const count = options.count ?? defaultOf(SHARED.pingCount);
  const timeoutMs = options.timeoutMs ?? defaultOf(SHARED.connectTimeout);
  if (hosts.length === 0) {
    throw new UsageError('no_endpoints', 'no endpoint to check', { hint: 'Name at least one endpoint (a MagicDNS name or Tailscale IP).' });
  }
  if (!Number.isInteger(count) || count < 1) {
    // 0 would make `tailscale ping` run forever.
    throw new UsageError('invalid_count', `the ping count must be a whole number of at least 1, got ${count}`, { hint: 'Pass a count such as 5.' });
  }
  if (!(timeoutMs > 0)) {
    throw new UsageError('invalid_timeout', `the ping timeout must be positive, got ${timeoutMs} ms`, { hint: 'Pass a timeout such as 3s.' });
  }

  const status = await readStatus(runner, options.statusTimeoutMs ?? DEFAULT_STATUS_TIMEOUT_MS, signal);
  const state = tailscaleState(status);
  if (status.kind !== 'status' || !state.up) {
    const targets = hosts.map((host): TailscaleTargetReport => ({
      name: host.name,
      host: host.host,
      peer: null,
      router: null,
      pingTarget: null,
      path: 'unknown',
      endpoint: null,
      peerRelay: null,
      derpRegion: null,
      latencyMs: null,
      evidence: 'none',
      reason: 'tailscale-down',
      detail: state.message,
      advice: state.nextStep ? [state.nextStep] : [],
    }));
    return { state, netcheck: null, netcheckError: null, derpMap: null, targets, verdict: verdictOf(targets, state) };
  }

  const found = await Promise.all(hosts.map(async (host) => {
    let peer = findPeer(status, host.host, host.addresses);
    // An address behind a subnet router (the customer's 10.x, 192.168.x) is checked through the router.
    let route = peer ? undefined : findRoute(status, host.host, host.addresses);
    if (!peer && !route && options.resolve && isIP(host.host) === 0) {
      const addresses = await resolveWithin(options.resolve, host.host, timeoutMs);
      peer = findPeer(status, host.host, addresses);
      route = peer ? undefined : findRoute(status, host.host, addresses);
    }
    const target = peer ?? route?.peer;
    const pingTarget = target ? pingTargetOf(target) : null;
    const router: TailscaleRouter | null = route ? { name: route.peer.hostName || route.peer.dnsName, ip: pingTarget, route: route.route, address: route.address } : null;
    return { host, peer: target, router, pingTarget };
  }));
  const [netcheckRun, derpMap, ...pings] = await Promise.all([
    runNetcheck(runner, options.netcheckTimeoutMs ?? DEFAULT_NETCHECK_TIMEOUT_MS, signal),
    loadDerpMap(runner, signal),
    ...found.map(({ pingTarget }) => (pingTarget === null ? Promise.resolve(undefined) : runPing(runner, pingTarget, count, timeoutMs, signal))),
  ]);
  const netcheck = readNetcheck(netcheckRun, derpMap);
  const exitNode = status.peers.find((peer) => peer.exitNode) ?? null;
  const exitNodeName = exitNode ? exitNode.hostName || exitNode.dnsName : status.exitNodeStatus ? (status.exitNodeStatus.tailscaleIps[0]?.replace(/\/\d+$/, '') ?? status.exitNodeStatus.id) : null;

  // The first ping that says tailscaled is not usable overrides the status read a moment before.
  const downFromPing = pings.map((ping) => (ping?.error && ping.pongs.length === 0 ? pingDownState(ping.error) : undefined)).find((down) => down !== undefined);
  // The status's own facts (version, TUN, Health) stay: only whether it is usable, and the next step, change.
  const finalState: TailscaleState = downFromPing ? { ...state, up: false, state: downFromPing.state, message: downFromPing.message, nextStep: downFromPing.nextStep } : state;

  const targets = found.map(({ host, peer, router, pingTarget }, index): TailscaleTargetReport => {
    const classification = classifyPath(peer, pings[index]);
    const peerName = peer?.dnsName ? peer.dnsName.replace(/\.$/, '') : host.host;
    const down = classification.reason === 'tailscale-down' && pings[index]?.error ? pingDownState(pings[index].error) : undefined;
    const advice = down
      ? [down.nextStep ?? 'Start Tailscale and re-run.']
      : adviceFor(classification, netcheck.report, {
          host: host.host,
          peerName: router ? `${host.host} (via router ${router.name})` : peerName,
          ...(pingTarget ? { pingTarget } : {}),
          health: status.health,
          exitNode: exitNodeName,
          regionCodes: regionCodesOf(derpMap),
          ...(router ? { router } : {}),
        });
    return {
      name: host.name,
      host: host.host,
      peer: peer ? { dnsName: peer.dnsName, hostName: peer.hostName, ips: peer.tailscaleIps, online: peer.online } : null,
      router,
      pingTarget,
      ...classification,
      advice,
    };
  });
  return {
    state: finalState,
    netcheck: netcheck.report,
    netcheckError: netcheck.error,
    derpMap: { source: derpMap.source, regions: derpMap.regions.length, error: derpMap.error },
    targets,
    verdict: verdictOf(targets, finalState),
  };
}

/** A name that does not resolve (or not in time) just matches nothing: the DNS stage reports it on its own. */
async function resolveWithin(resolve: (host: string) => Promise<string[]>, host: string, timeoutMs: number): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((done) => {
    timer = setTimeout(() => done([]), timeoutMs);
  });
  try {
    return await Promise.race([resolve(host).catch(() => []), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An IPv4 Tailscale address pings without any name resolution; the MagicDNS name is the fallback. */
function pingTargetOf(peer: TailscalePeer): string | null {
  return peer.tailscaleIps.find((ip) => !ip.includes(':')) ?? peer.tailscaleIps[0] ?? (peer.dnsName || null);
}

/** `tailscale ping --timeout` takes a Go duration. */
export function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

async function readStatus(runner: TailscaleRunner, timeoutMs: number, signal: AbortSignal | undefined): Promise<TailscaleStatus | TailscaleDaemonFailure> {
  try {
    return readStatusResult(await runner.run(['status', '--json'], { timeoutMs, ...(signal ? { signal } : {}) }));
  } catch (error) {
    if (error instanceof TailscaleNotInstalledError) return { kind: 'not-installed', bin: error.bin, message: error.message };
    if (error instanceof TailscaleTimeoutError) return { kind: 'timeout', message: error.message };
    throw error;
  }
}

type NetcheckRun = { stdout: string } | { error: string };

async function runNetcheck(runner: TailscaleRunner, timeoutMs: number, signal: AbortSignal | undefined): Promise<NetcheckRun> {
  try {
    const result = await runner.run(['netcheck', '--format=json'], { timeoutMs, ...(signal ? { signal } : {}) });
    if (result.exitCode !== 0) {
      const reason = result.stderr.split('\n').find((line) => line.trim() !== '' && !line.startsWith('# Warning:'));
      return { error: `tailscale netcheck exited with ${result.exitCode}${reason ? `: ${reason.trim()}` : ''}` };
    }
    return { stdout: result.stdout };
  } catch (error) {
    if (isAbort(error)) throw error;
    // Advice degrades without netcheck; the paths themselves do not depend on it.
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** netcheck names regions by id only: their codes come from the DERP map, so a `DERP(iad)` pong finds its row. */
function readNetcheck(run: NetcheckRun, derpMap: DerpMap): { report: Netcheck | null; error: string | null } {
  if ('error' in run) return { report: null, error: run.error };
  try {
    return { report: parseNetcheckJson(run.stdout, regionCodesOf(derpMap)), error: null };
  } catch (error) {
    return { report: null, error: error instanceof Error ? error.message : String(error) };
  }
}

// Keyed by the runner, which lives as long as one invocation: the doctor and connect check of one run ask
// tailscale for its DERP map once. A WeakMap, so nothing outlives the invocation.
const derpMaps = new WeakMap<TailscaleRunner, Promise<DerpMap>>();

/**
 * The running tailscale's DERP map (`tailscale debug derp-map`), or byoc's static table, with why, when the
 * command fails (an old CLI, tailscaled without a netmap) or prints something else. Cached per invocation.
 */
function loadDerpMap(runner: TailscaleRunner, signal?: AbortSignal): Promise<DerpMap> {
  const cached = derpMaps.get(runner);
  if (cached) return cached;
  const loading = (async (): Promise<DerpMap> => {
    try {
      const result = await runner.run(['debug', 'derp-map'], { timeoutMs: DERP_MAP_TIMEOUT_MS, ...(signal ? { signal } : {}) });
      if (result.exitCode !== 0) {
        const reason = result.stderr.split('\n').find((line) => line.trim() !== '')?.trim();
        return staticDerpMap(`tailscale debug derp-map exited with ${result.exitCode}${reason ? `: ${reason}` : ''}`);
      }
      return parseDerpMapJson(result.stdout);
    } catch (error) {
      if (isAbort(error)) throw error;
      return staticDerpMap(error instanceof Error ? error.message : String(error));
    }
  })();
  derpMaps.set(runner, loading);
  return loading;
}

async function runPing(runner: TailscaleRunner, target: string, count: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<PingOutput> {
  const args = ['ping', '-c', String(count), '--timeout', goDuration(timeoutMs), target];
  const deadline = count * (timeoutMs + PING_PAUSE_MS) + PING_GRACE_MS;
  try {
    return parsePingOutput(await runner.run(args, { timeoutMs: deadline, ...(signal ? { signal } : {}) }));
  } catch (error) {
    if (isAbort(error)) throw error;
    if (error instanceof TailscaleTimeoutError) {
      // Pongs printed before the kill are still evidence.
      const partial = parsePingOutput({ ...error.partial, exitCode: 1 });
      return { ...partial, error: { kind: 'timeout', message: error.message } };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { pongs: [], timeouts: 0, noReply: false, directNotEstablished: false, localIp: false, error: { kind: 'other', message }, exitCode: -1 };
  }
}
