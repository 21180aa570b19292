/**
 * Parsers for what the `tailscale` CLI prints (formats of v1.102, see research/tailscale/report.md).
 * Every reader is tolerant: a field an older or newer CLI leaves out becomes its empty value, never a crash,
 * because the field set follows the CLI binary's version.
 */
import { RemoteError } from '../errors.js';
import type { TailscaleRunResult } from './runner.js';

// ---------------------------------------------------------------- status --json

/** `ipn.State` names; an unknown future name is kept as the string it was. */
type BackendState =
  | 'NoState'
  | 'InUseOtherUser'
  | 'NeedsLogin'
  | 'NeedsMachineAuth'
  | 'Stopped'
  | 'Starting'
  | 'Running';

export interface TailscalePeer {
  id: string;
  publicKey: string;
  /** The OS hostname the node reports: neither unique nor a DNS name, so never used to find a peer. */
  hostName: string;
  /** MagicDNS FQDN with its trailing dot, as Tailscale prints it; '' when unknown. */
  dnsName: string;
  os: string;
  tailscaleIps: string[];
  tags: string[];
  /** Subnet routes this node is the primary router for (`10.20.0.0/16`): addresses behind it are reached through it. */
  primaryRoutes: string[];
  /** Its own /32 and /128 plus the routes we accept from it (subnets, and 0.0.0.0/0 + ::/0 for an exit node). */
  allowedIps: string[];
  /** Direct UDP `ip:port` in use, set only while that path is trusted; null otherwise (which does not mean DERP). */
  curAddr: string | null;
  /** The node's home DERP region code: filled for direct peers too, so it alone never means relayed. */
  relay: string | null;
  /** Peer-relay path `ip:port:vni:N` in use (v1.86+); null otherwise. */
  peerRelay: string | null;
  /** Connected to the coordination server; not a data-plane test. */
  online: boolean;
  /** We sent it data within the last 45 s; path fields are meaningless for inactive peers. */
  active: boolean;
  expired: boolean;
  /** This peer is our selected exit node: internet-bound traffic, netcheck's probes included, goes through it. */
  exitNode: boolean;
  rxBytes: number;
  txBytes: number;
  /** RFC 3339 as printed (nanoseconds kept), null for Go's zero time. */
  lastWrite: string | null;
  lastSeen: string | null;
  lastHandshake: string | null;
  keyExpiry: string | null;
  inEngine: boolean;
}

export interface TailscaleStatus {
  kind: 'status';
  version: string;
  /** false when tailscaled runs with --tun=userspace-networking: the OS cannot route 100.x itself. */
  tun: boolean;
  backendState: BackendState | (string & {});
  authUrl: string;
  tailscaleIps: string[];
  self: TailscalePeer | null;
  health: string[];
  magicDnsSuffix: string;
  peers: TailscalePeer[];
  /** The exit node in use (`ExitNodeStatus`); null when none is selected. */
  exitNodeStatus: { id: string; online: boolean; tailscaleIps: string[] } | null;
  /** Lines the CLI printed on stderr next to a usable status, e.g. the client/daemon version-skew warning. */
  warnings: string[];
}

/** Why `tailscale status` gave no status: the daemon states that are not a BackendState. */
export type TailscaleDaemonFailure =
  | { kind: 'not-installed'; bin: string; message: string }
  | { kind: 'daemon-not-running'; platform: 'linux' | 'macos' | 'windows' | 'unknown'; systemd: boolean; pid: number | null; message: string }
  /** The human form's stand-in for a non-Running backend (`Logged out.`, `Tailscale is stopped.` …). */
  | { kind: 'backend-not-running'; backendState: BackendState | (string & {}); message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'error'; message: string; exitCode: number | null };

const ZERO_TIME = '0001-01-01T00:00:00Z';

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {});
const asString = (value: unknown): string => (typeof value === 'string' ? value : '');
const asBool = (value: unknown): boolean => value === true;
const asNumber = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const asStrings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
const orNull = (value: string): string | null => (value === '' ? null : value);
const timeOrNull = (value: unknown): string | null => {
  const text = asString(value);
  return text === '' || text === ZERO_TIME ? null : text;
};

function parseJsonObject(text: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RemoteError('tailscale_bad_output', `${what} did not print JSON: ${firstLine(text) || '(empty output)'}`, {
      hint: `Run \`${what}\` by hand; byoc understands the output of Tailscale 1.x.`,
      cause: error,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RemoteError('tailscale_bad_output', `${what} printed JSON that is not an object`, {
      hint: `Run \`${what}\` by hand; byoc understands the output of Tailscale 1.x.`,
    });
  }
  return value as Json;
}

function parsePeerStatus(value: unknown): TailscalePeer {
  const peer = asObject(value);
  return {
    id: asString(peer.ID),
    publicKey: asString(peer.PublicKey),
    hostName: asString(peer.HostName),
    dnsName: asString(peer.DNSName),
    os: asString(peer.OS),
    tailscaleIps: asStrings(peer.TailscaleIPs),
    tags: asStrings(peer.Tags),
    primaryRoutes: asStrings(peer.PrimaryRoutes),
    allowedIps: asStrings(peer.AllowedIPs),
    curAddr: orNull(asString(peer.CurAddr)),
    relay: orNull(asString(peer.Relay)),
    peerRelay: orNull(asString(peer.PeerRelay)),
    online: asBool(peer.Online),
    active: asBool(peer.Active),
    expired: asBool(peer.Expired),
    exitNode: asBool(peer.ExitNode),
    rxBytes: asNumber(peer.RxBytes),
    txBytes: asNumber(peer.TxBytes),
    lastWrite: timeOrNull(peer.LastWrite),
    lastSeen: timeOrNull(peer.LastSeen),
    lastHandshake: timeOrNull(peer.LastHandshake),
    keyExpiry: timeOrNull(peer.KeyExpiry),
    inEngine: asBool(peer.InEngine),
  };
}

/** Parses the stdout of `tailscale status --json`. Throws a RemoteError when it is not a JSON object. */
export function parseStatusJson(text: string, stderr = ''): TailscaleStatus {
  const status = parseJsonObject(text, 'tailscale status --json');
  const tailnet = asObject(status.CurrentTailnet);
  const self = status.Self === undefined || status.Self === null ? null : parsePeerStatus(status.Self);
  const peers = Object.values(asObject(status.Peer)).map(parsePeerStatus);
  return {
    kind: 'status',
    version: asString(status.Version),
    // Absent only in very old CLIs, which had no userspace mode worth warning about.
    tun: status.TUN === undefined ? true : asBool(status.TUN),
    backendState: asString(status.BackendState) || 'NoState',
    authUrl: asString(status.AuthURL),
    tailscaleIps: asStrings(status.TailscaleIPs),
    self,
    health: asStrings(status.Health),
    magicDnsSuffix: asString(tailnet.MagicDNSSuffix) || asString(status.MagicDNSSuffix),
    peers,
    exitNodeStatus: exitNodeStatusOf(status.ExitNodeStatus),
    warnings: lines(stderr),
  };
}

function exitNodeStatusOf(value: unknown): TailscaleStatus['exitNodeStatus'] {
  if (value === null || typeof value !== 'object') return null;
  const exit = asObject(value);
  return { id: asString(exit.ID), online: asBool(exit.Online), tailscaleIps: asStrings(exit.TailscaleIPs) };
}

/**
 * Reads the daemon's connect errors (report section f). They go to stderr with exit 1 and stdout empty:
 * Linux `failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)`,
 * macOS `failed to connect to local Tailscale service; is Tailscale running?`,
 * Windows `failed to connect to local tailscaled process; is the Tailscale service running?`,
 * a found process `… (which appears to be running as tailscaled, pid 1234). Got error: …`,
 * and the raw form `Failed to connect to local Tailscale daemon for /localapi/v0/status; not running? Error: …`.
 * Human `status` and `ping` print `Logged out.` on stdout for a logged-out node.
 */
export function parseDaemonFailure(stdout: string, stderr: string): TailscaleDaemonFailure | undefined {
  const errorLines = lines(stderr).filter((line) => !isVersionSkewWarning(line));
  const connect = errorLines.find((line) => /failed to connect to local (tailscale|tailscaled)/i.test(line));
  if (connect) {
    const platform = /local Tailscale service; is Tailscale running\?/i.test(connect)
      ? 'macos'
      : /local tailscaled process; is the Tailscale service running\?/i.test(connect)
        ? 'windows'
        : /local tailscaled\b|tailscaled\.sock|systemd tailscaled\.service/i.test(connect)
          ? 'linux'
          : 'unknown';
    const systemd = /systemctl|systemd tailscaled\.service/.test(connect);
    const pidMatch = /\bpid (\d+)\b/.exec(connect);
    return { kind: 'daemon-not-running', platform, systemd, pid: pidMatch ? Number(pidMatch[1]) : null, message: connect };
  }
  const stateLine = [firstLine(stdout), ...errorLines].find((line) => backendStateOfLine(line) !== undefined);
  if (stateLine !== undefined) return { kind: 'backend-not-running', backendState: backendStateOfLine(stateLine) ?? 'NoState', message: stateLine };
  return undefined;
}

/** The result of `tailscale status --json` as a status or the reason there is none. Malformed JSON still throws. */
export function readStatusResult(result: TailscaleRunResult): TailscaleStatus | TailscaleDaemonFailure {
  if (result.exitCode === 0 && result.stdout.trim() !== '') return parseStatusJson(result.stdout, result.stderr);
  return (
    parseDaemonFailure(result.stdout, result.stderr) ?? {
      kind: 'error',
      message: lines(result.stderr).filter((line) => !isVersionSkewWarning(line)).join('\n') || firstLine(result.stdout) || `exit code ${result.exitCode}`,
      exitCode: result.exitCode,
    }
  );
}

function isVersionSkewWarning(line: string): boolean {
  return /^Warning: client version .* != tailscaled server version/.test(line);
}

// ---------------------------------------------------------------- ping

type PongVia =
  | { kind: 'direct'; endpoint: string }
  | { kind: 'derp'; region: string | null }
  | { kind: 'peer-relay'; relay: string }
  | { kind: 'tsmp' }
  | { kind: 'icmp' };

export interface Pong {
  nodeName: string;
  nodeIp: string;
  via: PongVia;
  latencyMs: number | null;
}

type PingErrorKind =
  | 'no-matching-peer'
  | 'unknown-peer'
  | 'daemon-stopped'
  | 'daemon-not-running'
  /** The LocalAPI connection broke mid-ping (`error Post "http://local-tailscaled.sock/…": … connection reset by peer`). */
  | 'daemon-lost'
  | 'backend-not-running'
  | 'key-expired'
  | 'no-ip'
  | 'lookup-failed'
  | 'usage'
  /** byoc's own deadline for the whole `tailscale ping` ran out (set by the caller, not the CLI). */
  | 'timeout'
  | 'other';

export interface PingOutput {
  pongs: Pong[];
  /** `ping "100.101.23.45" timed out` lines: attempts that got no pong. */
  timeouts: number;
  /** stderr `no reply`: no pong at all after every attempt. */
  noReply: boolean;
  /** stderr `direct connection not established`: pongs came, all relayed. The peer IS reachable. */
  directNotEstablished: boolean;
  /** `<ip> is local Tailscale IP`: the target is this machine. */
  localIp: boolean;
  error: { kind: PingErrorKind; message: string } | null;
  exitCode: number;
}

const PONG = /^pong from (.+?) \(([0-9A-Fa-f.:]+)(?:, \d+)?\) via (.+) in (\S+)$/;

function parseVia(via: string): PongVia {
  const derp = /^DERP\((.*)\)$/.exec(via);
  if (derp) return { kind: 'derp', region: orNull(derp[1] ?? '') };
  const relay = /^peer-relay\((.*)\)$/.exec(via);
  if (relay) return { kind: 'peer-relay', relay: relay[1] ?? '' };
  if (via === 'TSMP') return { kind: 'tsmp' };
  if (via === 'ICMP') return { kind: 'icmp' };
  return { kind: 'direct', endpoint: via };
}

export function parsePongLine(line: string): Pong | undefined {
  const match = PONG.exec(line.trim());
  if (!match) return undefined;
  return {
    nodeName: match[1] ?? '',
    nodeIp: match[2] ?? '',
    via: parseVia(match[3] ?? ''),
    latencyMs: parseGoDurationMs(match[4] ?? ''),
  };
}

const PING_ERRORS: { kind: PingErrorKind; test: RegExp }[] = [
  { kind: 'no-matching-peer', test: /^no matching peer$/ },
  { kind: 'unknown-peer', test: /^unknown peer$/ },
  { kind: 'daemon-stopped', test: /^local tailscaled stopped$/ },
  { kind: 'daemon-lost', test: /local-tailscaled\.sock|tailscaled\.sock\b/ },
  { kind: 'key-expired', test: /node key has expired/ },
  { kind: 'no-ip', test: /^node found but lacks an IP$|^no IPs found for / },
  { kind: 'lookup-failed', test: /^error looking up IP of / },
  { kind: 'usage', test: /^usage: tailscale ping|^flag provided but not defined|^invalid value / },
];

/** Parses `tailscale ping` (stdout lines, stderr verdict, exit code); section b of the report. */
export function parsePingOutput(result: TailscaleRunResult): PingOutput {
  const pongs: Pong[] = [];
  let timeouts = 0;
  let localIp = false;
  for (const line of lines(result.stdout)) {
    const pong = parsePongLine(line);
    if (pong) pongs.push(pong);
    // `timeout waiting for ping reply` is the pre-1.26 spelling of the same event.
    else if (/^ping ".*" timed out$/.test(line) || line === 'timeout waiting for ping reply') timeouts += 1;
    else if (/ is local Tailscale IP$/.test(line)) localIp = true;
  }
  const errorLines = lines(result.stderr).filter((line) => !isVersionSkewWarning(line) && !/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /.test(line));
  const noReply = errorLines.includes('no reply');
  const directNotEstablished = errorLines.includes('direct connection not established');
  let error: PingOutput['error'] = null;
  const daemon = parseDaemonFailure(result.stdout, result.stderr);
  if (daemon?.kind === 'daemon-not-running') error = { kind: 'daemon-not-running', message: daemon.message };
  else if (daemon?.kind === 'backend-not-running' && pongs.length === 0) error = { kind: 'backend-not-running', message: daemon.message };
  else {
    const other = errorLines.find((line) => line !== 'no reply' && line !== 'direct connection not established');
    if (other !== undefined && result.exitCode !== 0) {
      error = { kind: PING_ERRORS.find((entry) => entry.test.test(other))?.kind ?? 'other', message: other };
    } else if (result.exitCode !== 0 && pongs.length === 0 && timeouts === 0 && !noReply && !localIp) {
      error = { kind: 'other', message: firstLine(result.stdout) || `tailscale ping exited with ${result.exitCode}` };
    }
  }
  return { pongs, timeouts, noReply, directNotEstablished, localIp, error, exitCode: result.exitCode };
}

/** The lines a non-Running backend prints instead of a status table or pongs (stdout, exit 1). */
function backendStateOfLine(line: string): string | undefined {
  if (line === 'Tailscale is stopped.') return 'Stopped';
  if (line === 'Logged out.') return 'NeedsLogin';
  if (line === 'Machine is not yet approved by tailnet admin.') return 'NeedsMachineAuth';
  const unexpected = /^unexpected state: (\S+)$/.exec(line);
  return unexpected?.[1];
}

/** Go's `time.Duration.String()` (`2ms`, `1.204s`, `1m3.5s`, `0s`, `850µs`) in milliseconds; null if unreadable. */
export function parseGoDurationMs(text: string): number | null {
  if (text === '0' || text === '0s') return 0;
  const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, μs: 0.001, ns: 0.000001 };
  const part = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|μs|ns)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    total += Number(match[1]) * (unitMs[match[2] ?? ''] ?? Number.NaN);
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length || !Number.isFinite(total)) return null;
  return Math.round(total * 1000) / 1000;
}

// ---------------------------------------------------------------- netcheck --format=json

interface DerpRegionLatency {
  id: number;
  /** Region code from the default Tailscale DERP map; null for regions it does not know (custom DERP). */
  code: string | null;
  latencyMs: number;
}

export interface Netcheck {
  /** Any STUN round trip completed; false means UDP is blocked and only DERP (over HTTPS) works. */
  udp: boolean;
  ipv4: boolean;
  ipv6: boolean;
  ipv4CanSend: boolean;
  ipv6CanSend: boolean;
  osHasIpv6: boolean;
  icmpv4: boolean;
  /** Endpoint-dependent ("hard") NAT; null = could not tell. */
  mappingVariesByDestIp: boolean | null;
  /** Port-mapping protocols on the local router; null = not checked. */
  upnp: boolean | null;
  pmp: boolean | null;
  pcp: boolean | null;
  /** Public `ip:port` seen by the STUN servers, null when none. */
  globalV4: string | null;
  globalV6: string | null;
  /** How many distinct public v4 mappings STUN saw: more than one is the signature of a hard NAT. */
  globalV4Mappings: number;
  preferredDerp: DerpRegionLatency | { id: number; code: string | null; latencyMs: null } | null;
  /** Measured regions, fastest first. */
  regions: DerpRegionLatency[];
  captivePortal: boolean | null;
  now: string | null;
}

/**
 * Region IDs of Tailscale's default DERP map (https://controlplane.tailscale.com/derpmap/default), which
 * netcheck's JSON names only by ID. Only the fallback for when `tailscale debug derp-map` gives nothing:
 * the running tailscale's own map also knows newer regions and custom ones (headscale, derper: 900+).
 */
const DEFAULT_DERP_REGION_CODES: Readonly<Record<number, string>> = {
  1: 'nyc', 2: 'sfo', 3: 'sin', 4: 'fra', 5: 'syd', 6: 'blr', 7: 'tok', 8: 'lhr', 9: 'dfw', 10: 'sea',
  11: 'sao', 12: 'ord', 13: 'den', 14: 'ams', 15: 'jnb', 16: 'mia', 17: 'lax', 18: 'par', 19: 'mad',
  20: 'hkg', 21: 'tor', 22: 'waw', 23: 'dbi', 24: 'hnl', 25: 'nai', 27: 'iad',
};

interface DerpRegion {
  id: number;
  code: string;
  /** `New York City`; '' when the map gives none. */
  name: string;
}

export interface DerpMap {
  /** Where the regions came from: the running tailscale, or byoc's static table when it could not say. */
  source: 'tailscale' | 'static';
  regions: DerpRegion[];
  /** Why the running tailscale's map was not used; null when it was. */
  error: string | null;
}

/** The static table as a DerpMap, with the reason it is used. */
export function staticDerpMap(error: string): DerpMap {
  const regions = Object.entries(DEFAULT_DERP_REGION_CODES).map(([id, code]) => ({ id: Number(id), code, name: '' }));
  return { source: 'static', regions, error };
}

/**
 * Parses `tailscale debug derp-map` (tailcfg.DERPMap: `{"Regions": {"<id>": {"RegionID", "RegionCode",
 * "RegionName", "Nodes": [...]}}, ...}`). Regions without a code are skipped; a region's key stands in for a
 * missing RegionID. Throws tailscale_bad_output when it is not a JSON object or names no region at all.
 */
export function parseDerpMapJson(text: string): DerpMap {
  const map = parseJsonObject(text, 'tailscale debug derp-map');
  const regions = Object.entries(asObject(map.Regions))
    .map(([key, value]) => {
      const region = asObject(value);
      return { id: asNumber(region.RegionID) || Number(key), code: asString(region.RegionCode), name: asString(region.RegionName) };
    })
    .filter((region) => Number.isInteger(region.id) && region.id > 0 && region.code !== '')
    .sort((a, b) => a.id - b.id);
  if (regions.length === 0) {
    throw new RemoteError('tailscale_bad_output', 'tailscale debug derp-map printed no DERP region', {
      hint: 'Run `tailscale debug derp-map` by hand: it should list Regions with RegionID and RegionCode.',
    });
  }
  return { source: 'tailscale', regions, error: null };
}

/** id -> region code, for {@link parseNetcheckJson}. */
export function regionCodesOf(map: DerpMap): Record<number, string> {
  return Object.fromEntries(map.regions.map((region) => [region.id, region.code]));
}

const optBool = (value: unknown): boolean | null => (typeof value === 'boolean' ? value : null);
const nsToMs = (ns: number): number => Math.round(ns / 100_000) / 10;

/** Parses the stdout of `tailscale netcheck --format=json` (stderr carries only the "not stable" warning). */
export function parseNetcheckJson(text: string, regionCodes: Readonly<Record<number, string>> = DEFAULT_DERP_REGION_CODES): Netcheck {
  const report = parseJsonObject(text, 'tailscale netcheck --format=json');
  const regions = Object.entries(asObject(report.RegionLatency))
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number' && entry[1] > 0)
    .map(([id, ns]) => ({ id: Number(id), code: regionCodes[Number(id)] ?? null, latencyMs: nsToMs(ns) }))
    .sort((a, b) => a.latencyMs - b.latencyMs || a.id - b.id);
  const preferredId = asNumber(report.PreferredDERP);
  const preferredDerp =
    preferredId === 0
      ? null
      : (regions.find((region) => region.id === preferredId) ?? { id: preferredId, code: regionCodes[preferredId] ?? null, latencyMs: null });
  return {
    udp: asBool(report.UDP),
    ipv4: asBool(report.IPv4),
    ipv6: asBool(report.IPv6),
    ipv4CanSend: asBool(report.IPv4CanSend),
    ipv6CanSend: asBool(report.IPv6CanSend),
    osHasIpv6: asBool(report.OSHasIPv6),
    icmpv4: asBool(report.ICMPv4),
    mappingVariesByDestIp: optBool(report.MappingVariesByDestIP),
    upnp: optBool(report.UPnP),
    pmp: optBool(report.PMP),
    pcp: optBool(report.PCP),
    globalV4: orNull(asString(report.GlobalV4)),
    globalV6: orNull(asString(report.GlobalV6)),
    globalV4Mappings: Object.keys(asObject(report.GlobalV4Counters)).length,
    preferredDerp,
    regions,
    captivePortal: optBool(report.CaptivePortal),
    now: timeOrNull(report.Now),
  };
}

// ---------------------------------------------------------------- helpers

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '');
}

function firstLine(text: string): string {
  return lines(text)[0]?.trim() ?? '';
}
