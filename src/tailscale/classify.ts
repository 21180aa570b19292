/**
 * The Tailscale path classifier: which peer an endpoint is, which path reaches it, whether tailscaled is
 * usable at all, and advice that says why a path is relayed and what fixes it.
 */
import { BlockList, isIP } from 'node:net';
import { parseDaemonFailure, type Netcheck, type PingOutput, type Pong, type TailscaleDaemonFailure, type TailscalePeer, type TailscaleStatus } from './parse.js';

export type TailscalePath = 'direct' | 'derp' | 'peer-relay' | 'unreachable' | 'unknown';
/** `error`: tailscale failed in a way that says nothing about the path (exit 5, like any failed subprocess). */
export type TailscaleVerdict = 'direct' | 'relayed' | 'unreachable' | 'tailscale-down' | 'error';

/** What a classification rests on, so a reader can tell a fresh probe from a possibly stale status. */
type PathEvidence = 'ping' | 'status' | 'none';

type PathReason =
  | 'pong-direct'
  | 'pong-derp'
  | 'pong-peer-relay'
  | 'no-reply'
  | 'status-direct'
  | 'status-peer-relay'
  | 'status-derp'
  | 'offline'
  | 'key-expired'
  | 'idle'
  | 'no-path'
  | 'not-found'
  /** The ping said tailscaled is not usable (stopped, not running, logged out): the status was not trusted over it. */
  | 'tailscale-down'
  /** The ping failed for another reason; its message is the detail. */
  | 'ping-error';

export interface PathClassification {
  path: TailscalePath;
  /** Direct UDP `ip:port`, only on direct paths. */
  endpoint: string | null;
  /** Peer-relay address `ip:port:vni:N`, only on peer-relay paths. */
  peerRelay: string | null;
  /** DERP region code carrying the traffic, only on DERP paths (a direct peer's home region is not reported). */
  derpRegion: string | null;
  /** From the pongs on the chosen path; status readings carry no latency. */
  latencyMs: number | null;
  evidence: PathEvidence;
  reason: PathReason;
  /** Extra facts for the advice: last seen time, the ping's error, attempts without reply. */
  detail: string | null;
}

// ---------------------------------------------------------------- findPeer

/**
 * The peer an endpoint names: by MagicDNS name (`DNSName`, compared case-insensitively with or without its
 * trailing dot) or by one of its Tailscale addresses (the host as an IP literal, or `addresses` the caller
 * resolved, e.g. through `network.resolve`). Never by `HostName`: it is the OS hostname, neither unique
 * nor what MagicDNS answers, and matching it could silently pick the wrong customer's node.
 */
export function findPeer(status: Pick<TailscaleStatus, 'peers'>, host: string, addresses: readonly string[] = []): TailscalePeer | undefined {
  const wantedName = normalizeDnsName(host);
  if (wantedName !== '' && isIP(stripBrackets(host)) === 0) {
    const byName = status.peers.find((peer) => peer.dnsName !== '' && normalizeDnsName(peer.dnsName) === wantedName);
    if (byName) return byName;
  }
  const wantedIps = [host, ...addresses].map(canonicalIp).filter((ip): ip is string => ip !== undefined);
  if (wantedIps.length === 0) return undefined;
  return status.peers.find((peer) => peer.tailscaleIps.some((ip) => wantedIps.includes(canonicalIp(ip) ?? '')));
}

function normalizeDnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function stripBrackets(text: string): string {
  return text.trim().replace(/^\[(.*)\]$/, '$1');
}

/** One spelling per address, so `fd7a:115c:a1e0:0:0:0:9a17:2d2d` matches `fd7a:115c:a1e0::9a17:2d2d`. */
function canonicalIp(text: string): string | undefined {
  const bare = stripBrackets(text);
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

// ---------------------------------------------------------------- findRoute

export interface SubnetRoute {
  /** The subnet router, whose Tailscale IP is pinged in place of the address behind it. */
  peer: TailscalePeer;
  /** The route that contains the address, as the status prints it (`10.20.0.0/16`). */
  route: string;
  /** The address that fell in it. */
  address: string;
}

const DEFAULT_ROUTES = new Set(['0.0.0.0/0', '::/0']);

/**
 * The subnet router an address sits behind: the peer whose `PrimaryRoutes` or `AllowedIPs` (its own /32 and
 * /128 aside) contain it, the longest prefix winning, a primary route and an online peer winning ties. The
 * default routes count only for the exit node in use, and only when no subnet route matches: every address
 * "falls in" 0.0.0.0/0, so a peer that merely offers to be an exit node routes nothing of ours.
 */
export function findRoute(status: Pick<TailscaleStatus, 'peers'>, host: string, addresses: readonly string[] = []): SubnetRoute | undefined {
  const wanted = [host, ...addresses].map(canonicalIp).filter((ip): ip is string => ip !== undefined);
  let best: (SubnetRoute & { bits: number; primary: boolean }) | undefined;
  for (const peer of status.peers) {
    const own = new Set(peer.tailscaleIps.map((ip) => canonicalIp(ip)));
    const routes = [...new Set([...peer.primaryRoutes, ...peer.allowedIps])];
    for (const route of routes) {
      const cidr = parseCidr(route);
      if (!cidr) continue;
      if (DEFAULT_ROUTES.has(`${cidr.network}/${cidr.bits}`) && !peer.exitNode) continue;
      if (cidr.bits === (cidr.family === 'ipv4' ? 32 : 128) && own.has(canonicalIp(cidr.network))) continue;
      const list = new BlockList();
      list.addSubnet(cidr.network, cidr.bits, cidr.family);
      const address = wanted.find((ip) => isIP(ip) === (cidr.family === 'ipv4' ? 4 : 6) && list.check(ip, cidr.family));
      if (address === undefined) continue;
      const candidate = { peer, route, address, bits: cidr.bits, primary: peer.primaryRoutes.includes(route) };
      if (!best || betterRoute(candidate, best)) best = candidate;
    }
  }
  return best ? { peer: best.peer, route: best.route, address: best.address } : undefined;
}

function betterRoute(a: { bits: number; primary: boolean; peer: TailscalePeer }, b: { bits: number; primary: boolean; peer: TailscalePeer }): boolean {
  if (a.bits !== b.bits) return a.bits > b.bits;
  if (a.primary !== b.primary) return a.primary;
  return a.peer.online && !b.peer.online;
}

function parseCidr(text: string): { network: string; bits: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^(.+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const network = canonicalIp(match[1] ?? '');
  const bits = Number(match[2]);
  if (network === undefined) return undefined;
  const family = isIP(network) === 4 ? 'ipv4' : 'ipv6';
  if (bits > (family === 'ipv4' ? 32 : 128)) return undefined;
  return { network, bits, family };
}

// ---------------------------------------------------------------- classifyPath

/**
 * The path to a peer. Precedence, freshest evidence first:
 * 1. Pongs from `tailscale ping` (an active probe, run after the status was read). Any pong `via ip:port`
 *    means direct. Otherwise the last pong's path wins (DERP or peer relay) even when the status showed a
 *    `CurAddr`: the status keeps `CurAddr` only while that path is trusted, and a ping that went through
 *    every attempt without a direct pong (`--until-direct` stops at the first one) proves it is no longer so.
 * 2. A ping with no pong at all (`no reply`, every attempt timed out) means unreachable, whatever the
 *    status said; an expired node key too.
 * 3. The status, as the CLI's own table reads it: offline → unreachable; inactive → unknown (an idle
 *    peer's empty `CurAddr` does not mean DERP); `CurAddr` → direct; `PeerRelay` → peer relay; `Relay`
 *    (home region) → DERP; else unknown. A ping that failed for another reason falls through to here.
 */
export function classifyPath(peer: TailscalePeer | undefined, ping?: PingOutput): PathClassification {
  const base = { endpoint: null, peerRelay: null, derpRegion: null, latencyMs: null, detail: null };
  if (!peer) return { ...base, path: 'unknown', evidence: 'none', reason: 'not-found' };

  if (ping) {
    const fromPongs = classifyPongs(ping.pongs, peer);
    // Pongs are proof of a path even when the ping then failed (tailscaled dying mid-run): the error is kept.
    if (fromPongs) return ping.error ? { ...fromPongs, detail: `tailscale ping then failed: ${ping.error.message}` } : fromPongs;
    if (ping.error?.kind === 'key-expired') return { ...base, path: 'unreachable', evidence: 'ping', reason: 'key-expired', detail: ping.error.message };
    const noReply = ping.noReply || (ping.timeouts > 0 && (ping.error === null || ping.error.kind === 'timeout'));
    if (noReply) {
      return { ...base, path: 'unreachable', evidence: 'ping', reason: 'no-reply', detail: `${Math.max(ping.timeouts, 1)} attempt(s) without a pong` };
    }
    // A failed ping is the freshest word on tailscaled: falling back to the status here reported a stopped or
    // logged-out node as `relayed` (the status was read a moment earlier, or says nothing about the data plane).
    if (ping.error) {
      const down = pingDownState(ping.error);
      return { ...base, path: 'unknown', evidence: 'ping', reason: down ? 'tailscale-down' : 'ping-error', detail: ping.error.message };
    }
    if (ping.exitCode !== 0 && !ping.localIp) {
      return { ...base, path: 'unknown', evidence: 'ping', reason: 'ping-error', detail: `tailscale ping exited with ${ping.exitCode} without a pong` };
    }
  }
  const status = { ...base, evidence: 'status' as const, detail: null };
  if (peer.expired) return { ...status, path: 'unreachable', reason: 'key-expired' };
  if (!peer.online) return { ...status, path: 'unreachable', reason: 'offline', detail: peer.lastSeen ? `last seen ${peer.lastSeen}` : null };
  if (!peer.active) return { ...status, path: 'unknown', reason: 'idle' };
  if (peer.curAddr) return { ...status, path: 'direct', reason: 'status-direct', endpoint: peer.curAddr };
  if (peer.peerRelay) return { ...status, path: 'peer-relay', reason: 'status-peer-relay', peerRelay: peer.peerRelay };
  if (peer.relay) return { ...status, path: 'derp', reason: 'status-derp', derpRegion: peer.relay };
  return { ...status, path: 'unknown', reason: 'no-path' };
}

function classifyPongs(pongs: readonly Pong[], peer: TailscalePeer): PathClassification | undefined {
  const base = { endpoint: null, peerRelay: null, derpRegion: null, evidence: 'ping' as const, detail: null };
  const direct = pongs.filter((pong) => pong.via.kind === 'direct');
  const lastDirect = direct.at(-1);
  if (lastDirect && lastDirect.via.kind === 'direct') {
    return { ...base, path: 'direct', reason: 'pong-direct', endpoint: lastDirect.via.endpoint, latencyMs: lastDirect.latencyMs };
  }
  const last = pongs.filter((pong) => pong.via.kind === 'derp' || pong.via.kind === 'peer-relay').at(-1);
  if (!last) return undefined;
  const sameKind = pongs.filter((pong) => pong.via.kind === last.via.kind);
  const latencyMs = median(sameKind.map((pong) => pong.latencyMs).filter((ms): ms is number => ms !== null));
  if (last.via.kind === 'peer-relay') return { ...base, path: 'peer-relay', reason: 'pong-peer-relay', peerRelay: last.via.relay, latencyMs };
  const region = last.via.kind === 'derp' ? last.via.region : null;
  return { ...base, path: 'derp', reason: 'pong-derp', derpRegion: region ?? peer.relay, latencyMs };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

// ---------------------------------------------------------------- tailscaleState

type TailscaleStateName =
  | 'not-installed'
  | 'daemon-not-running'
  | 'timeout'
  | 'error'
  | 'NoState'
  | 'InUseOtherUser'
  | 'NeedsLogin'
  | 'NeedsMachineAuth'
  | 'Stopped'
  | 'Starting'
  | 'Running'
  | (string & {});

export interface TailscaleState {
  /** Only `Running` is usable: every other state has a next step. */
  up: boolean;
  state: TailscaleStateName;
  message: string;
  /** The exact thing to do next; null when up. */
  nextStep: string | null;
  health: string[];
  version: string | null;
  /** false under userspace networking (the OS cannot route 100.x: go through tailscaled's proxy). */
  tun: boolean | null;
  warnings: string[];
}

const LOGIN_STEP = 'Log in: tailscale login (add --login-server=<url> when the tailnet uses its own control server), then re-run.';

/** Every daemon state by name, with the exact next step. */
export function tailscaleState(input: TailscaleStatus | TailscaleDaemonFailure): TailscaleState {
  const none = { health: [], version: null, tun: null, warnings: [] };
  switch (input.kind) {
    case 'not-installed':
      return {
        ...none,
        up: false,
        state: 'not-installed',
        message: input.message,
        nextStep:
          'Install Tailscale (https://tailscale.com/download; Linux: curl -fsSL https://tailscale.com/install.sh | sh), ' +
          'or set tailscale.bin in the byoc configuration (or BYOC_TAILSCALE_BIN) to its path.',
      };
    case 'daemon-not-running':
      return { ...none, up: false, state: 'daemon-not-running', message: input.message, nextStep: startDaemonStep(input) };
    case 'timeout':
      return {
        ...none,
        up: false,
        state: 'timeout',
        message: input.message,
        nextStep: 'tailscaled did not answer: restart it (Linux: sudo systemctl restart tailscaled; macOS/Windows: quit and reopen the Tailscale app), then re-run.',
      };
    case 'error':
      return { ...none, up: false, state: 'error', message: input.message, nextStep: 'Run tailscale status to see what is wrong, fix it, then re-run.' };
    case 'backend-not-running':
      return { ...none, up: false, state: input.backendState, message: input.message, nextStep: backendStep(input.backendState, '') };
    case 'status': {
      const details = { health: input.health, version: input.version || null, tun: input.tun, warnings: input.warnings };
      const up = input.backendState === 'Running';
      return {
        ...details,
        up,
        state: input.backendState,
        message: up ? 'Tailscale is running' : backendMessage(input.backendState),
        nextStep: up ? null : backendStep(input.backendState, input.authUrl),
      };
    }
  }
}

/**
 * The daemon state a failed `tailscale ping` reveals, or undefined when its error says nothing about tailscaled:
 * `Tailscale is stopped.` / `Logged out.` (stdout), the `failed to connect to local tailscaled …` family
 * (including `… Got error: Get "http://local-tailscaled.sock/localapi/v0/status": EOF`), `local tailscaled
 * stopped`, a LocalAPI connection reset mid-ping, and `no matching peer`, which older CLIs print when logged out
 * (tailscale#3549) and which, for an address byoc just read from the status, means the netmap is gone.
 */
export function pingDownState(error: NonNullable<PingOutput['error']>): TailscaleState | undefined {
  switch (error.kind) {
    case 'daemon-not-running':
    case 'backend-not-running': {
      const failure = parseDaemonFailure(error.message, error.message);
      return failure ? tailscaleState(failure) : undefined;
    }
    case 'daemon-stopped':
    case 'daemon-lost':
      return tailscaleState({ kind: 'daemon-not-running', platform: 'unknown', systemd: false, pid: null, message: `tailscale ping: ${error.message}` });
    case 'no-matching-peer':
      return {
        up: false,
        state: 'NeedsLogin',
        message: 'tailscale ping found no matching peer for an address the status listed: this node looks logged out (or switched tailnets)',
        nextStep: `Check tailscale status; if it says Logged out or NeedsLogin: ${LOGIN_STEP}`,
        health: [],
        version: null,
        tun: null,
        warnings: [],
      };
    default:
      return undefined;
  }
}

function startDaemonStep(failure: Extract<TailscaleDaemonFailure, { kind: 'daemon-not-running' }>): string {
  if (failure.pid !== null) {
    return `tailscaled runs (pid ${failure.pid}) but its socket does not answer: restart it (Linux: sudo systemctl restart tailscaled) or check the socket path (tailscale --socket=…) and its permissions.`;
  }
  switch (failure.platform) {
    case 'linux':
      return failure.systemd
        ? 'Start the daemon: sudo systemctl start tailscaled (and sudo systemctl enable tailscaled to keep it), then tailscale up.'
        : 'Start the daemon as root (sudo tailscaled --state=/var/lib/tailscale/tailscaled.state, or through your init system), then tailscale up.';
    case 'macos':
      return 'Open the Tailscale app (or, for the open-source daemon, sudo tailscaled install-system-daemon), then re-run.';
    case 'windows':
      return 'Start the Tailscale service: open the Tailscale app, or run net start Tailscale as administrator, then re-run.';
    default:
      return 'Start tailscaled (Linux: sudo systemctl start tailscaled; macOS and Windows: open the Tailscale app), then re-run.';
  }
}

function backendMessage(state: string): string {
  switch (state) {
    case 'NeedsLogin':
      return 'Tailscale is logged out';
    case 'NeedsMachineAuth':
      return 'this machine is not yet approved by the tailnet admin';
    case 'Stopped':
      return 'Tailscale is stopped';
    case 'Starting':
      return 'Tailscale is starting';
    case 'NoState':
      return 'tailscaled has not loaded its state yet';
    case 'InUseOtherUser':
      return 'Tailscale is in use by another user of this machine';
    default:
      return `Tailscale is in an unexpected state: ${state}`;
  }
}

function backendStep(state: string, authUrl: string): string {
  switch (state) {
    case 'NeedsLogin':
      return authUrl ? `Log in: open ${authUrl} (or run tailscale login), then re-run.` : LOGIN_STEP;
    case 'NeedsMachineAuth':
      return 'Ask a tailnet admin to approve this machine (admin console, Machines), then re-run.';
    case 'Stopped':
      return 'Connect: tailscale up, then re-run.';
    case 'Starting':
      return 'Wait a few seconds and re-run; if it stays Starting, check that this machine reaches the coordination server (tailscale netcheck).';
    case 'NoState':
      return 'Wait a few seconds and re-run; if it persists, run tailscale up.';
    case 'InUseOtherUser':
      return 'Tailscale is signed in by another user of this machine: switch to that user, or have them run tailscale down.';
    default:
      return 'Run tailscale status; byoc needs the state Running.';
  }
}

// ---------------------------------------------------------------- adviceFor

export interface AdviceContext {
  /** The endpoint as the user named it. */
  host?: string;
  /** How to call the peer in prose: its MagicDNS name without the dot is clearest. */
  peerName?: string;
  /** What to pass to `tailscale ping` by hand. */
  pingTarget?: string;
  /** The status `Health` warnings: tailscaled's own word on what is wrong here. */
  health?: readonly string[];
  /** The exit node in use (its name), if any: netcheck's probes then leave through it. */
  exitNode?: string | null;
  /** DERP region id -> code from the running tailscale's map, to name the region a Health warning gives by number. */
  regionCodes?: Readonly<Record<number, string>>;
  /** The subnet router in front of the endpoint. */
  router?: { name: string; ip: string | null; route: string; address: string };
}

const PORTS =
  'To get a direct path: allow outbound UDP 41641 and UDP 3478 (STUN) from this machine’s network, and inbound UDP 41641 on the customer’s side';

/**
 * Why a path is what it is and what fixes it. Empty for direct paths. Relayed paths get the local network's
 * culprits from netcheck (UDP blocked, hard NAT, no port mapping), the ports to open on both sides, and the
 * DERP region carrying the traffic with its latency from here.
 */
export function adviceFor(classification: PathClassification, netcheck: Netcheck | null | undefined, context: AdviceContext = {}): string[] {
  const peerName = context.peerName ?? context.host ?? 'the peer';
  const pingTarget = context.pingTarget ?? context.host ?? peerName;
  const advice = ((): string[] => {
    switch (classification.path) {
      case 'direct':
        return [];
      case 'derp':
      case 'peer-relay':
        return relayedAdvice(classification, netcheck, peerName, context.exitNode ?? null);
      case 'unreachable':
        return unreachableAdvice(classification, netcheck, peerName, pingTarget);
      case 'unknown':
        return unknownAdvice(classification, context, peerName, pingTarget);
    }
  })();
  const router = context.router ? routerAdvice(context.router, context.health ?? []) : { first: [], last: [] };
  const health = classification.path === 'direct' ? [] : healthAdvice(context.health ?? [], context.regionCodes ?? {});
  return [...router.first, ...advice, ...router.last, ...health];
}

/** Reached through a subnet router: name it, and what the path shown does and does not cover. */
function routerAdvice(router: NonNullable<AdviceContext['router']>, health: readonly string[]): { first: string[]; last: string[] } {
  // Without --accept-routes (Linux) the router answers pings but 10.x never goes through it: that comes first.
  const first = health.some((warning) => /accept-routes is false/i.test(warning))
    ? [`This machine does not accept subnet routes, so ${router.route} is not routed through ${router.name}: run tailscale set --accept-routes, then re-run.`]
    : [];
  const last = [
    `${router.address} is reached via router ${router.name}${router.ip ? ` (${router.ip})` : ''}, which routes ${router.route}: ` +
      `the path shown is the path to the router; from there to ${router.address} is the customer’s own network.`,
  ];
  return { first, last };
}

/**
 * tailscaled's `Health` warnings, as advice: they name local problems the path alone cannot show. The
 * `not connected to home DERP region N` family gets its region's code and its cause: the DERP server is
 * reached over HTTPS, and regions 900+ are self-hosted (headscale's embedded DERP, a derper).
 */
function healthAdvice(health: readonly string[], regionCodes: Readonly<Record<number, string>>): string[] {
  return health
    .filter((warning) => !/accept-routes is false/i.test(warning))
    .map((warning) => {
      // Before 1.70-ish: `not connected to home DERP region 900`; later: `Tailscale could not connect to the
      // 'relayla' relay server. Your Internet connection might be down, …` (the region's name or code).
      const home = /not connected to home DERP region (\d+)/i.exec(warning);
      const relay = /could not connect to the '([^']*)' relay server/i.exec(warning);
      if (!home && !relay) return `Tailscale reports: “${warning}”.`;
      const id = home ? Number(home[1]) : Number(Object.entries(regionCodes).find(([, code]) => code === relay?.[1])?.[0] ?? 0);
      const code = home ? regionCodes[id] : relay?.[1];
      const region = id === 0 ? (code ?? 'unknown') : code ? `${code} (#${id})` : `#${id}`;
      const selfHosted = id >= 900 ? ` Region ${region} is a self-hosted DERP (headscale or derper): check that server is up, its TLS certificate is valid, and TCP 443 and UDP 3478 reach it.` : '';
      return (
        `Tailscale reports: “${warning}”. This machine cannot hold its connection to its home DERP region ${region}, so peers cannot reach it through DERP either: ` +
        `check outbound HTTPS (TCP 443) and UDP 3478 to the DERP servers, and any proxy or firewall in the way.${selfHosted}`
      );
    });
}

function relayedAdvice(classification: PathClassification, netcheck: Netcheck | null | undefined, peerName: string, exitNode: string | null): string[] {
  const advice: string[] = [];
  const latency = classification.latencyMs === null ? '' : ` (pongs in ${formatMs(classification.latencyMs)})`;
  if (classification.path === 'peer-relay') {
    advice.push(
      `Traffic to ${peerName} goes through a Tailscale peer relay at ${classification.peerRelay ?? 'another node'}${latency}: ` +
        'no direct UDP path could be established. A peer relay is faster than DERP but still not direct.',
    );
  } else {
    advice.push(
      `Traffic to ${peerName} is relayed through DERP region ${classification.derpRegion ?? '(unknown)'}${latency}: ` +
        'no direct UDP path could be established.',
    );
  }
  if (!netcheck) {
    advice.push('tailscale netcheck gave no report, so this side’s network could not be examined: run tailscale netcheck by hand.');
  } else if (exitNode !== null && !netcheck.udp) {
    // netcheck runs in the CLI with ordinary sockets, so with an exit node its STUN probes leave through the
    // tunnel: UDP false then describes the exit node's path, not this network.
    advice.push(
      `Exit node ${exitNode} is in use, so netcheck’s probes went through it: its “UDP: false” says nothing about this network. ` +
        'To examine this network, run tailscale netcheck with the exit node off (tailscale set --exit-node=), then turn it back on.',
    );
  } else {
    const culprits = networkCulprits(netcheck);
    advice.push(...culprits);
    if (culprits.length === 0) {
      const why = netcheck.mappingVariesByDestIp === false ? 'UDP works here and the NAT is easy (netcheck: MappingVariesByDestIP false)' : 'UDP works here and netcheck found no hard NAT';
      advice.push(
        `This side is fine: the blocker is likely on the other side. ${why}, ` +
          `so look at the customer’s side: a firewall or cloud security group dropping inbound UDP 41641 to ${peerName}, or a hard NAT in front of it.`,
      );
    }
  }
  advice.push(`${PORTS} (${peerName}’s firewall or cloud security group).`);
  if (classification.path === 'derp' && netcheck) advice.push(derpLatencyAdvice(classification.derpRegion, netcheck));
  return advice;
}

function networkCulprits(netcheck: Netcheck): string[] {
  const culprits: string[] = [];
  if (netcheck.captivePortal === true) culprits.push('A captive portal intercepts this network: sign in to it first.');
  if (!netcheck.udp) {
    culprits.push(
      'UDP is blocked on this network (netcheck: UDP false): Tailscale can only use DERP relays over HTTPS. Allow outbound UDP 41641 and UDP 3478 (STUN).',
    );
    return culprits;
  }
  if (netcheck.mappingVariesByDestIp === true) {
    const seen = netcheck.globalV4Mappings > 1 ? `, ${netcheck.globalV4Mappings} different public mappings seen` : '';
    culprits.push(
      `This machine is behind a hard NAT (netcheck: MappingVariesByDestIP true${seen}): its public port changes with each destination, ` +
        'so the peer cannot aim at it. A direct path then needs the customer’s side to accept inbound UDP 41641, or a router here that maps ports.',
    );
  }
  // Port mapping only matters behind a hard NAT: an easy NAT already lets the peer aim at this side.
  if (netcheck.mappingVariesByDestIp !== false && netcheck.upnp === false && netcheck.pmp === false && netcheck.pcp === false) {
    culprits.push('No port mapping on this network (UPnP, NAT-PMP and PCP all unavailable): the router will not open a port for Tailscale.');
  }
  return culprits;
}

function derpLatencyAdvice(region: string | null, netcheck: Netcheck): string {
  const nearest = netcheck.preferredDerp ?? netcheck.regions[0] ?? null;
  const nearestText =
    nearest === null
      ? 'no DERP region answered netcheck’s latency probes'
      : `the nearest DERP region from here is ${regionLabel(nearest)}${nearest.latencyMs === null ? '' : ` at ${formatMs(nearest.latencyMs)}`}`;
  const used = region === null ? undefined : netcheck.regions.find((candidate) => candidate.code === region);
  if (region === null) return `The DERP region in use is unknown; ${nearestText}.`;
  if (!used) return `DERP region ${region} was not measured from here; ${nearestText}.`;
  if (nearest && nearest.id === used.id) return `DERP region ${region} is ${formatMs(used.latencyMs)} from here, the nearest region.`;
  return `DERP region ${region} is ${formatMs(used.latencyMs)} from here; ${nearestText}.`;
}

function regionLabel(region: { id: number; code: string | null }): string {
  return region.code ?? `#${region.id}`;
}

function unreachableAdvice(classification: PathClassification, netcheck: Netcheck | null | undefined, peerName: string, pingTarget: string): string[] {
  const advice: string[] = [];
  switch (classification.reason) {
    case 'offline':
      advice.push(
        `${peerName} is offline in the tailnet (not connected to the coordination server${classification.detail ? `; ${classification.detail}` : ''}): ` +
          'check that tailscaled runs on it and is logged in.',
      );
      break;
    case 'key-expired':
      advice.push(`${peerName}’s node key has expired: re-authenticate it (tailscale up --force-reauth on that node), or disable key expiry for it in the admin console.`);
      break;
    case 'no-reply':
      advice.push(`${peerName} did not answer tailscale ping${classification.detail ? ` (${classification.detail})` : ''}.`);
      break;
    default:
      break;
  }
  advice.push(
    `Check that ${peerName} is online (tailscale status), that the tailnet ACLs let this machine reach it, then run tailscale ping ${pingTarget} by hand.`,
  );
  if (netcheck && netcheck.regions.length === 0) {
    advice.push('This machine reached no DERP region either: check outbound HTTPS (TCP 443) and UDP 3478 to the DERP servers, and any proxy in the way.');
  }
  return advice;
}

function unknownAdvice(classification: PathClassification, context: AdviceContext, peerName: string, pingTarget: string): string[] {
  switch (classification.reason) {
    case 'not-found':
      return [
        `No peer in this tailnet has the MagicDNS name or Tailscale address ${context.host ?? peerName}: use the full MagicDNS name ` +
          '(as tailscale status --json shows in DNSName) or a Tailscale IP, check you are logged in to the customer’s tailnet, ' +
          'and that the ACLs let this machine see the node.',
      ];
    case 'idle':
      return [
        `${peerName} is idle, so the status shows no path${classification.detail ? ` and ${classification.detail}` : ''}: run tailscale ping ${pingTarget} to establish and show it.`,
      ];
    default:
      return [
        `The path to ${peerName} could not be determined${classification.detail ? ` (${classification.detail})` : ''}: run tailscale ping ${pingTarget} by hand.`,
      ];
  }
}

function formatMs(ms: number): string {
  return `${Math.round(ms * 10) / 10} ms`;
}

// ---------------------------------------------------------------- verdictOf

/**
 * The top-level verdict. tailscale-down when the daemon is not usable (by the status or by a ping's failure);
 * error when tailscale itself failed without saying why (status unreadable, a ping error byoc cannot name);
 * unreachable when any target is
 * unreachable or unknown (only a confirmed path counts: an unknown path cannot be claimed direct, and a
 * runbook asking for reachability must not pass on a guess); relayed when any target goes through DERP or
 * a peer relay; direct only when every target is direct. With no targets nothing was shown reachable, so
 * unreachable.
 */
export function verdictOf(targets: readonly { path: TailscalePath; reason?: string }[], state: Pick<TailscaleState, 'up' | 'state'>): TailscaleVerdict {
  if (!state.up) return state.state === 'error' || state.state === 'timeout' ? 'error' : 'tailscale-down';
  if (targets.some((target) => target.reason === 'tailscale-down')) return 'tailscale-down';
  if (targets.length === 0) return 'unreachable';
  if (targets.some((target) => target.path === 'unreachable')) return 'unreachable';
  // A ping that failed for an unnamed reason proves nothing either way: say so rather than guess unreachable.
  if (targets.some((target) => target.reason === 'ping-error')) return 'error';
  if (targets.some((target) => target.path === 'unknown')) return 'unreachable';
  if (targets.some((target) => target.path === 'derp' || target.path === 'peer-relay')) return 'relayed';
  return 'direct';
}
