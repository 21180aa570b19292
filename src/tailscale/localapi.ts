/**
 * tailscaled's LocalAPI over its unix socket (`/var/run/tailscale/tailscaled.sock` on Linux): the same status
 * document `tailscale status --json` prints, the DERP map, and one structured PingResult per probe, without a subprocess per
 * call or the CLI's text in between. The CLI stays the fallback: for every command this does not answer
 * (netcheck, name lookups), and whenever nothing listens on the socket or the daemon refuses the request.
 *
 * Written on node:http rather than a library: the protocol is two requests over a unix socket, and the
 * HTTP clients we already depend on (undici through fetch) do not take a socket path without a custom agent.
 * The paths, headers and fields are those of tailscale's own client (client/local/local.go, ipn/ipnstate).
 */
import { request } from 'node:http';
import { isIP } from 'node:net';
import { abortReason } from '../errors.js';
import { abortableDelay } from '../util/delay.js';
import { parseGoDurationMs } from './parse.js';
import { TailscaleTimeoutError, type TailscaleRunOptions, type TailscaleRunResult, type TailscaleRunner } from './runner.js';

/** The Host header tailscaled accepts (anything else is refused with 403 `invalid localapi request`). */
const LOCALAPI_HOST = 'local-tailscaled.sock';
/** The CLI's per-ping default; only used when the caller gives no `--timeout`. */
const DEFAULT_PING_TIMEOUT_MS = 5000;
const DEFAULT_STATUS_TIMEOUT_MS = 10_000;
/** `tailscale ping` waits a second between pongs; doing the same keeps the two sources' evidence alike. */
const PING_PAUSE_MS = 1000;

/** `ipnstate.PingResult`, as the LocalAPI encodes it (Go field names). */
export interface PingResult {
  IP?: string;
  NodeIP?: string;
  NodeName?: string;
  Err?: string;
  LatencySeconds?: number;
  /** `ip:port` when direct UDP answered. */
  Endpoint?: string;
  /** `ip:port:vni:N` when a peer relay answered (v1.86+). */
  PeerRelay?: string;
  /** Non-zero when DERP answered. */
  DERPRegionID?: number;
  DERPRegionCode?: string;
  PeerAPIPort?: number;
  IsLocalIP?: boolean;
}

/** Nothing usable answers on the socket (absent, refused, not a socket, 403): the CLI is asked instead. */
class LocalApiUnavailable extends Error {}

/** The per-request deadline ran out; the daemon itself has no timeout on a ping. */
class LocalApiDeadline extends Error {}

interface LocalApiResponse {
  status: number;
  body: string;
}

const UNAVAILABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'ENOTDIR', 'ECONNRESET', 'EPIPE']);

function localApiRequest(socket: string, method: 'GET' | 'POST', path: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<LocalApiResponse> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const req = request(
      // Sec-Tailscale is what tsnet's LocalAPI asks for; tailscaled ignores it. Host is checked by both.
      { socketPath: socket, method, path, headers: { Host: LOCALAPI_HOST, 'Sec-Tailscale': 'localapi' }, signal: combined },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (signal?.aborted) reject(abortReason(signal));
      else if (deadline.aborted) reject(new LocalApiDeadline(`${method} ${path} did not answer within ${timeoutMs} ms`));
      else if (error.code !== undefined && UNAVAILABLE_CODES.has(error.code)) reject(new LocalApiUnavailable(`${socket}: ${error.code}`));
      else reject(new LocalApiUnavailable(`${socket}: ${error.message}`));
    });
    if (method === 'POST') req.end('');
    else req.end();
  });
}

/** Go's `time.Duration.String()` of a latency rounded to the millisecond, as `tailscale ping` prints it. */
function goLatency(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const secondsText = `${String(((ms % 60_000) / 1000).toFixed(3)).replace(/\.?0+$/, '')}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

/** The pong line the CLI prints for a PingResult (cmd/tailscale/cli/ping.go), so both sources parse alike. */
export function pongLine(result: PingResult): string {
  const via = result.PeerRelay
    ? `peer-relay(${result.PeerRelay})`
    : result.DERPRegionID
      ? `DERP(${result.DERPRegionCode ?? ''})`
      : result.Endpoint || 'disco';
  const port = result.PeerAPIPort ? `, ${result.PeerAPIPort}` : '';
  return `pong from ${result.NodeName ?? ''} (${result.NodeIP ?? ''}${port}) via ${via} in ${goLatency(result.LatencySeconds ?? 0)}`;
}

function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string' && parsed.error !== '') return parsed.error;
  } catch {
    // Not JSON: tailscaled's 400s are plain text.
  }
  return body.trim();
}

/**
 * A document the CLI prints as it gets it: `status --json` (/localapi/v0/status) and `debug derp-map`
 * (/localapi/v0/derpmap) re-encode the daemon's JSON with the same field set.
 */
async function document(socket: string, path: string, options: TailscaleRunOptions): Promise<TailscaleRunResult> {
  const answer = await localApiRequest(socket, 'GET', path, options.timeoutMs ?? DEFAULT_STATUS_TIMEOUT_MS, options.signal);
  // A daemon that refuses (403: another user's socket, a foreign Host rule; 5xx) is left to the CLI, which
  // knows how to say so.
  if (answer.status !== 200) throw new LocalApiUnavailable(`GET ${path} answered ${answer.status}: ${errorMessage(answer.body)}`);
  return { stdout: answer.body, stderr: '', exitCode: 0 };
}

const DOCUMENTS: Readonly<Record<string, string>> = { 'status --json': '/localapi/v0/status', 'debug derp-map': '/localapi/v0/derpmap' };

interface PingArgs {
  count: number;
  timeoutMs: number;
  ip: string;
}

/** `ping -c N --timeout D <ip>` as check.ts runs it; anything else (a name to resolve, other flags) goes to the CLI. */
function pingArgsOf(args: readonly string[]): PingArgs | undefined {
  if (args[0] !== 'ping') return undefined;
  let count = 10;
  let timeoutMs = DEFAULT_PING_TIMEOUT_MS;
  let index = 1;
  for (; index < args.length - 1; index += 2) {
    const [flag, value] = [args[index], args[index + 1] ?? ''];
    if (flag === '-c' || flag === '--c') count = Number(value);
    else if (flag === '--timeout' || flag === '-timeout') timeoutMs = parseGoDurationMs(value) ?? Number.NaN;
    else return undefined;
  }
  const ip = args[index];
  if (index !== args.length - 1 || ip === undefined || isIP(ip) === 0) return undefined;
  if (!Number.isInteger(count) || count < 1 || !(timeoutMs > 0)) return undefined;
  return { count, timeoutMs, ip };
}

/**
 * The CLI's ping loop (until a direct pong, at most `count` attempts) over the LocalAPI, printing what the CLI
 * would print: pong lines and `ping "ip" timed out` on stdout, `no reply` / `direct connection not
 * established` / the daemon's error on stderr, with the CLI's exit codes.
 */
async function ping(socket: string, args: PingArgs, argv: readonly string[], options: TailscaleRunOptions): Promise<TailscaleRunResult> {
  const overall = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
  const signals = [options.signal, overall].filter((candidate): candidate is AbortSignal => candidate !== undefined);
  const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);
  const query = new URLSearchParams({ ip: args.ip, size: '0', type: 'disco' });
  let stdout = '';
  let anyPong = false;
  const done = (stderr: string, exitCode: number): TailscaleRunResult => ({ stdout, stderr, exitCode });
  try {
    for (let attempt = 1; attempt <= args.count; attempt += 1) {
      let answer: LocalApiResponse;
      try {
        answer = await localApiRequest(socket, 'POST', `/localapi/v0/ping?${query.toString()}`, args.timeoutMs, signal);
      } catch (error) {
        if (!(error instanceof LocalApiDeadline)) throw error;
        stdout += `ping "${args.ip}" timed out\n`;
        if (attempt === args.count) return anyPong ? done('', 0) : done('no reply\n', 1);
        continue;
      }
      if (answer.status === 403) throw new LocalApiUnavailable(`POST /localapi/v0/ping answered 403: ${errorMessage(answer.body)}`);
      if (answer.status !== 200) return done(`${errorMessage(answer.body)}\n`, 1);
      let result: PingResult;
      try {
        result = JSON.parse(answer.body) as PingResult;
      } catch {
        return done(`tailscaled answered the ping with something that is not a PingResult: ${answer.body.trim().slice(0, 200) || '(empty)'}\n`, 1);
      }
      if (result.Err) {
        if (result.IsLocalIP) {
          stdout += `${result.Err}\n`;
          return done('', 0);
        }
        return done(`${result.Err}\n`, 1);
      }
      anyPong = true;
      stdout += `${pongLine(result)}\n`;
      if (result.Endpoint) return done('', 0);
      if (attempt === args.count) return done('direct connection not established\n', 1);
      await abortableDelay(PING_PAUSE_MS, signal);
    }
    return done('no reply\n', 1);
  } catch (error) {
    if (overall?.aborted && !options.signal?.aborted) {
      throw new TailscaleTimeoutError(`tailscaled LocalAPI (${socket})`, [...argv], options.timeoutMs ?? 0, { stdout, stderr: '' });
    }
    // Pongs already seen would be lost by a fallback rerun only when the socket vanished mid-ping: rare, and the CLI then says why.
    throw error;
  }
}


export interface LocalApiRunnerOptions {
  /** tailscaled's unix socket (tailscale.socket). */
  socket: string;
  /** The CLI, for what the LocalAPI does not answer and whenever the socket is unusable. */
  cli: TailscaleRunner;
}

/**
 * A TailscaleRunner that answers `status --json`, `debug derp-map` and `ping` from the LocalAPI, in the CLI's exact output forms
 * (so the same parsers read both), and hands everything else to the CLI. Once the socket proves unusable, the
 * rest of the run goes straight to the CLI.
 */
export function createLocalApiRunner({ socket, cli }: LocalApiRunnerOptions): TailscaleRunner {
  let usable = true;
  return {
    async run(args, options = {}) {
      if (usable) {
        try {
          const documentPath = DOCUMENTS[args.join(' ')];
          if (documentPath !== undefined) return await document(socket, documentPath, options);
          const pingArgs = pingArgsOf(args);
          if (pingArgs) return await ping(socket, pingArgs, args, options);
        } catch (error) {
          if (error instanceof LocalApiDeadline) throw new TailscaleTimeoutError(`tailscaled LocalAPI (${socket})`, args, options.timeoutMs ?? DEFAULT_STATUS_TIMEOUT_MS, { stdout: '', stderr: '' });
          if (!(error instanceof LocalApiUnavailable)) throw error;
          usable = false;
        }
      }
      return cli.run(args, options);
    },
  };
}
