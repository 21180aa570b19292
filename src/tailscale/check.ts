import { defaultOf } from '../command/definition.js';
import { isAbort, UsageError } from '../errors.js';
import { SHARED } from '../options.js';
import {
  adviceFor,
  classifyPath,
  findPeer,
  tailscaleState,
  verdictOf,
  type PathClassification,
  type TailscaleState,
  type TailscaleVerdict,
} from './classify.js';
import { parseNetcheckJson, parsePingOutput, readStatusResult, type Netcheck, type PingOutput, type TailscaleDaemonFailure, type TailscalePeer, type TailscaleStatus } from './parse.js';
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

export interface TailscaleTargetReport extends Omit<PathClassification, 'reason'> {
  name: string;
  host: string;
  peer: TailscaleTargetPeer | null;
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
  targets: TailscaleTargetReport[];
  verdict: TailscaleVerdict;
}

const DEFAULT_STATUS_TIMEOUT_MS = 10_000;
const DEFAULT_NETCHECK_TIMEOUT_MS = 20_000;
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
    return { state, netcheck: null, netcheckError: null, targets, verdict: verdictOf(targets, state) };
  }

  const found = hosts.map((host) => {
    const peer = findPeer(status, host.host, host.addresses);
    return { host, peer, pingTarget: peer ? pingTargetOf(peer) : null };
  });
  const [netcheck, ...pings] = await Promise.all([
    runNetcheck(runner, options.netcheckTimeoutMs ?? DEFAULT_NETCHECK_TIMEOUT_MS, signal),
    ...found.map(({ pingTarget }) => (pingTarget === null ? Promise.resolve(undefined) : runPing(runner, pingTarget, count, timeoutMs, signal))),
  ]);

  const targets = found.map(({ host, peer, pingTarget }, index): TailscaleTargetReport => {
    const classification = classifyPath(peer, pings[index]);
    const peerName = peer?.dnsName ? peer.dnsName.replace(/\.$/, '') : host.host;
    return {
      name: host.name,
      host: host.host,
      peer: peer ? { dnsName: peer.dnsName, hostName: peer.hostName, ips: peer.tailscaleIps, online: peer.online } : null,
      pingTarget,
      ...classification,
      advice: adviceFor(classification, netcheck.report, { host: host.host, peerName, ...(pingTarget ? { pingTarget } : {}) }),
    };
  });
  return { state, netcheck: netcheck.report, netcheckError: netcheck.error, targets, verdict: verdictOf(targets, state) };
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

async function runNetcheck(runner: TailscaleRunner, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ report: Netcheck | null; error: string | null }> {
  try {
    const result = await runner.run(['netcheck', '--format=json'], { timeoutMs, ...(signal ? { signal } : {}) });
    if (result.exitCode !== 0) {
      const reason = result.stderr.split('\n').find((line) => line.trim() !== '' && !line.startsWith('# Warning:'));
      return { report: null, error: `tailscale netcheck exited with ${result.exitCode}${reason ? `: ${reason.trim()}` : ''}` };
    }
    return { report: parseNetcheckJson(result.stdout), error: null };
  } catch (error) {
    if (isAbort(error)) throw error;
    // Advice degrades without netcheck; the paths themselves do not depend on it.
    return { report: null, error: error instanceof Error ? error.message : String(error) };
  }
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
