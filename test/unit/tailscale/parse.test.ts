import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../../src/errors.js';
import {
  parseDaemonFailure,
  parseGoDurationMs,
  parseNetcheckJson,
  parsePingOutput,
  parsePongLine,
  parseStatusJson,
  readStatusResult,
} from '../../../src/tailscale/parse.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';

const ok = (stdout: string, stderr = '') => ({ stdout, stderr, exitCode: 0 });
const failed = (stdout: string, stderr: string, exitCode = 1) => ({ stdout, stderr, exitCode });

describe('parseStatusJson', () => {
  it('reads the running status, self and every peer with their path fields', () => {
    // Given the recorded `tailscale status --json` with two direct peers
    // When it is parsed
    const status = parseStatusJson(tailscaleFixture('status-direct.json'));
    // Then the backend, self and peers come out with Tailscale's own values
    expect(status).toMatchObject({ kind: 'status', backendState: 'Running', tun: true, version: '1.102.3-t53a0d659a-g7c5e2b9d1', health: [] });
    expect(status.magicDnsSuffix).toBe('abc123.us-east-1.aws.byoc.example.com');
    expect(status.self?.dnsName).toBe('ops-workstation.abc123.us-east-1.aws.byoc.example.com.');
    expect(status.peers).toHaveLength(2);
    const ch = status.peers.find((peer) => peer.hostName === 'ip-10-20-1-15');
    expect(ch).toMatchObject({
      dnsName: 'ch.abc123.us-east-1.aws.byoc.example.com.',
      tailscaleIps: ['100.101.23.45', 'fd7a:115c:a1e0::9a17:2d2d'],
      curAddr: '198.51.100.31:41641',
      relay: 'nyc',
      peerRelay: null,
      online: true,
      active: true,
      lastSeen: null,
      lastHandshake: '2026-08-20T14:02:41.66120937-04:00',
      tags: ['tag:clickhouse'],
    });
  });

  it('reads a DERP status: empty CurAddr, home region, health warnings, userspace networking', () => {
    // Given the DERP fixture (TUN false, Health has the accept-routes warning)
    const status = parseStatusJson(tailscaleFixture('status-derp.json'));
    // Then CurAddr is null, Relay is kept and the warning is there
    expect(status.tun).toBe(false);
    expect(status.health).toEqual(['Some peers are advertising routes but --accept-routes is false']);
    expect(status.peers.map((peer) => [peer.curAddr, peer.relay, peer.active])).toEqual([
      [null, 'nyc', true],
      [null, 'nyc', true],
    ]);
  });

  it('reads the peer-relay address and expired keys', () => {
    // Given statuses with a peer relay and with an expired node key
    const relayed = parseStatusJson(tailscaleFixture('status-peer-relay.json'));
    const expired = parseStatusJson(tailscaleFixture('status-key-expired.json'));
    // Then PeerRelay and Expired are read
    expect(relayed.peers.find((peer) => peer.hostName === 'ip-10-20-1-15')?.peerRelay).toBe('198.51.100.77:7777:vni:13');
    expect(relayed.peers).toHaveLength(3);
    expect(expired.peers.find((peer) => peer.hostName === 'ip-10-20-1-15')).toMatchObject({ expired: true, keyExpiry: '2026-08-19T09:20:03Z' });
  });

  it.each([
    ['status-needs-login.json', 'NeedsLogin'],
    ['status-needs-machine-auth.json', 'NeedsMachineAuth'],
    ['status-stopped.json', 'Stopped'],
    ['status-starting.json', 'Starting'],
  ])('reads %s as BackendState %s with null peers tolerated', (file, state) => {
    // Given a status in a non-running state (Peer/User may be null)
    const status = parseStatusJson(tailscaleFixture(file));
    // Then the state is read and nothing crashes on the nulls
    expect(status.backendState).toBe(state);
    expect(Array.isArray(status.peers)).toBe(true);
  });

  it('keeps the logged-out AuthURL and zero values', () => {
    // Given the NeedsLogin fixture
    const status = parseStatusJson(tailscaleFixture('status-needs-login.json'));
    // Then the login URL is kept and the logged-out self has no addresses
    expect(status.authUrl).toBe('https://login.byoc.example.com/a/4f1c9e27d80b');
    expect(status.tailscaleIps).toEqual([]);
    expect(status.peers).toEqual([]);
    expect(status.self?.dnsName).toBe('');
    expect(status.magicDnsSuffix).toBe('');
  });

  it('tolerates missing fields from other CLI versions', () => {
    // Given a minimal status with a peer lacking most fields
    const status = parseStatusJson(JSON.stringify({ BackendState: 'Running', Peer: { 'nodekey:1': { DNSName: 'a.example.', TailscaleIPs: ['100.64.0.1'] } } }));
    // Then defaults fill the gaps
    expect(status.peers[0]).toMatchObject({ dnsName: 'a.example.', curAddr: null, relay: null, peerRelay: null, online: false, active: false });
    expect(status.self).toBeNull();
    expect(status.health).toEqual([]);
  });

  it('refuses output that is not JSON with a hint', () => {
    // Given human status output where JSON was expected
    // Then a RemoteError names the command
    expect(() => parseStatusJson('Logged out.\n')).toThrowError(RemoteError);
    expect(() => parseStatusJson('[]')).toThrowError(/not an object/);
  });
});

describe('readStatusResult and parseDaemonFailure', () => {
  it('keeps the version-skew warning next to a usable status', () => {
    // Given a status with the client/daemon skew warning on stderr
    const result = readStatusResult(ok(tailscaleFixture('status-direct.json'), tailscaleFixture('version-skew.stderr.txt')));
    // Then the status is used and the warning kept
    expect(result.kind).toBe('status');
    expect(result.kind === 'status' && result.warnings[0]).toMatch(/^Warning: client version/);
  });

  it.each([
    ['daemon-not-running-linux.stderr.txt', 'linux', true, null],
    ['daemon-not-running-linux-no-systemctl.stderr.txt', 'linux', false, null],
    ['daemon-not-running-macos.stderr.txt', 'macos', false, null],
    ['daemon-not-running-windows.stderr.txt', 'windows', false, null],
    ['daemon-not-running-pid.stderr.txt', 'linux', false, 1234],
    ['daemon-not-running-raw.stderr.txt', 'linux', false, null],
  ])('reads %s as daemon-not-running (%s, systemd %s, pid %s)', (file, platform, systemd, pid) => {
    // Given the connect error tailscale prints when tailscaled is unreachable (stdout empty, exit 1)
    const result = readStatusResult(failed('', tailscaleFixture(file)));
    // Then it is a daemon-not-running failure for that platform
    expect(result).toMatchObject({ kind: 'daemon-not-running', platform, systemd, pid });
  });

  it('reads the human backend lines as the backend states they stand for', () => {
    // Given the lines non-running backends print instead of output
    // Then each maps to its BackendState
    expect(parseDaemonFailure('Logged out.\nLog in at: https://login.byoc.example.com/a/1\n', '')).toMatchObject({ kind: 'backend-not-running', backendState: 'NeedsLogin' });
    expect(parseDaemonFailure('Tailscale is stopped.\n', '')).toMatchObject({ backendState: 'Stopped' });
    expect(parseDaemonFailure('Machine is not yet approved by tailnet admin.\n', '')).toMatchObject({ backendState: 'NeedsMachineAuth' });
    expect(parseDaemonFailure('unexpected state: InUseOtherUser\n', '')).toMatchObject({ backendState: 'InUseOtherUser' });
    expect(parseDaemonFailure('', 'something else\n')).toBeUndefined();
  });

  it('reports any other failure with its message and exit code', () => {
    // Given an unknown failure
    const result = readStatusResult(failed('', 'Warning: client version "1" != tailscaled server version "2"\nboom\n', 3));
    // Then the message excludes the skew warning
    expect(result).toEqual({ kind: 'error', message: 'boom', exitCode: 3 });
  });
});

describe('parsePongLine and parseGoDurationMs', () => {
  it.each([
    ['pong from ch (100.101.23.45) via DERP(nyc) in 23ms', { kind: 'derp', region: 'nyc' }, 23],
    ['pong from ch (100.101.23.45) via DERP() in 23ms', { kind: 'derp', region: null }, 23],
    ['pong from ch (100.101.23.45) via 198.51.100.31:41641 in 5ms', { kind: 'direct', endpoint: '198.51.100.31:41641' }, 5],
    ['pong from ch (fd7a:115c:a1e0::9a17:2d2d) via [2001:db8:31::31]:41641 in 3ms', { kind: 'direct', endpoint: '[2001:db8:31::31]:41641' }, 3],
    ['pong from ch (100.101.23.45) via peer-relay(198.51.100.77:7777:vni:13) in 9ms', { kind: 'peer-relay', relay: '198.51.100.77:7777:vni:13' }, 9],
    ['pong from ch (100.101.23.45, 41877) via TSMP in 3ms', { kind: 'tsmp' }, 3],
    ['pong from ch (100.101.23.45) via 192.168.1.40:41641 in 0s', { kind: 'direct', endpoint: '192.168.1.40:41641' }, 0],
    ['pong from Alice MacBook (100.64.0.9) via DERP(fra) in 1.204s', { kind: 'derp', region: 'fra' }, 1204],
  ])('reads %s', (line, via, latencyMs) => {
    // Given a pong line in the CLI's format
    // Then the path and latency come out
    expect(parsePongLine(line)).toMatchObject({ via, latencyMs });
  });

  it('reads Go durations and refuses garbage', () => {
    // Given Go duration strings
    // Then they convert to milliseconds, and anything else is null
    expect(parseGoDurationMs('1m3.5s')).toBe(63_500);
    expect(parseGoDurationMs('850µs')).toBe(0.85);
    expect(parseGoDurationMs('2ms')).toBe(2);
    expect(parseGoDurationMs('fast')).toBeNull();
    expect(parseGoDurationMs('3sx')).toBeNull();
  });
});

describe('parsePingOutput', () => {
  it('reads a direct ping', () => {
    // Given the direct fixture (exit 0)
    const ping = parsePingOutput(ok(tailscaleFixture('ping-direct.txt')));
    // Then one direct pong and no error
    expect(ping.pongs).toEqual([{ nodeName: 'ch', nodeIp: '100.101.23.45', via: { kind: 'direct', endpoint: '198.51.100.31:41641' }, latencyMs: 2 }]);
    expect(ping.error).toBeNull();
    expect(ping.directNotEstablished).toBe(false);
  });

  it('reads DERP-only pongs with "direct connection not established" as reachable, not as an error', () => {
    // Given ten DERP pongs and the stderr verdict (exit 1)
    const ping = parsePingOutput(failed(tailscaleFixture('ping-derp-only.txt'), 'direct connection not established\n'));
    // Then all pongs are read and no error is reported
    expect(ping.pongs).toHaveLength(10);
    expect(ping.pongs.every((pong) => pong.via.kind === 'derp')).toBe(true);
    expect(ping.directNotEstablished).toBe(true);
    expect(ping.error).toBeNull();
  });

  it('reads peer-relay pongs', () => {
    // Given peer-relay pongs
    const ping = parsePingOutput(failed(tailscaleFixture('ping-peer-relay.txt'), 'direct connection not established\n'));
    // Then they are peer-relay pongs
    expect(ping.pongs.map((pong) => pong.via.kind)).toEqual(Array(5).fill('peer-relay'));
  });

  it('reads no reply: timeouts and the stderr verdict', () => {
    // Given five timed-out attempts
    const ping = parsePingOutput(failed(tailscaleFixture('ping-no-reply.txt'), 'no reply\n'));
    // Then no pongs, five timeouts, noReply
    expect(ping).toMatchObject({ pongs: [], timeouts: 5, noReply: true, error: null });
  });

  it('reads the pre-1.26 timeout spelling', () => {
    // Given the old timeout line
    const ping = parsePingOutput(failed('timeout waiting for ping reply\n', 'no reply\n'));
    // Then it counts as a timeout
    expect(ping.timeouts).toBe(1);
  });

  it.each([
    ['no matching peer', 'no-matching-peer'],
    ['unknown peer', 'unknown-peer'],
    ['local tailscaled stopped', 'daemon-stopped'],
    ["peer's node key has expired", 'key-expired'],
    ['node found but lacks an IP', 'no-ip'],
    ['error looking up IP of "x": lookup x on 127.0.0.53:53: no such host', 'lookup-failed'],
    ['usage: tailscale ping <hostname-or-IP>', 'usage'],
    ['something new', 'other'],
  ])('reads the error %s', (message, kind) => {
    // Given an error on stderr (exit 1), with a --verbose log line before it
    const ping = parsePingOutput(failed('', `2026/08/20 14:03:11 lookup "ch" => "100.101.23.45"\n${message}\n`));
    // Then it is classified, the log line ignored
    expect(ping.error).toEqual({ kind, message });
  });

  it('reads daemon and backend states printed by ping', () => {
    // Given ping run against a stopped daemon, a logged-out and a stopped backend
    const down = parsePingOutput(failed('', tailscaleFixture('daemon-not-running-linux.stderr.txt')));
    const loggedOut = parsePingOutput(failed(tailscaleFixture('ping-logged-out.txt'), ''));
    const stopped = parsePingOutput(failed(tailscaleFixture('ping-stopped.txt'), ''));
    // Then each is an error of its kind
    expect(down.error?.kind).toBe('daemon-not-running');
    expect(loggedOut.error).toEqual({ kind: 'backend-not-running', message: 'Logged out.' });
    expect(stopped.error).toEqual({ kind: 'backend-not-running', message: 'Tailscale is stopped.' });
  });

  it('reads the local-IP answer', () => {
    // Given a ping of our own address
    const ping = parsePingOutput(ok('100.101.7.8 is local Tailscale IP\n'));
    // Then it is flagged, not an error
    expect(ping).toMatchObject({ localIp: true, error: null });
  });
});

describe('parseNetcheckJson', () => {
  it('reads the good report: UDP, easy NAT, UPnP, nearest DERP and latencies in ms', () => {
    // Given the recorded netcheck JSON
    const netcheck = parseNetcheckJson(tailscaleFixture('netcheck-good.json'));
    // Then the fields are normalised and regions sorted fastest first
    expect(netcheck).toMatchObject({
      udp: true,
      ipv4: true,
      ipv6: true,
      mappingVariesByDestIp: false,
      upnp: true,
      pmp: false,
      pcp: false,
      globalV4: '203.0.113.50:53411',
      globalV4Mappings: 1,
      captivePortal: null,
      preferredDerp: { id: 1, code: 'nyc', latencyMs: 4.1 },
    });
    expect(netcheck.regions.map((region) => `${region.code}:${region.latencyMs}`)).toEqual([
      'nyc:4.1',
      'tor:14.8',
      'ord:22',
      'mia:29.7',
      'dfw:38.9',
      'den:51.2',
      'lax:63.4',
    ]);
  });

  it('reads a hard NAT with several one-off mappings and no port mapping', () => {
    // Given the hard-NAT fixture
    const netcheck = parseNetcheckJson(tailscaleFixture('netcheck-hard-nat.json'));
    // Then the hard NAT and missing mapping protocols show
    expect(netcheck).toMatchObject({ udp: true, mappingVariesByDestIp: true, globalV4Mappings: 4, upnp: false, pmp: false, pcp: false, ipv6: false, globalV6: null });
  });

  it('reads a UDP-blocked report with unknown NAT type', () => {
    // Given the UDP-blocked fixture
    const netcheck = parseNetcheckJson(tailscaleFixture('netcheck-udp-blocked.json'));
    // Then UDP is false, the mapping unknown, and HTTPS latencies remain
    expect(netcheck).toMatchObject({ udp: false, icmpv4: true, mappingVariesByDestIp: null, globalV4: null, globalV4Mappings: 0 });
    expect(netcheck.preferredDerp).toMatchObject({ id: 1, code: 'nyc', latencyMs: 38.2 });
  });

  it('leaves custom DERP regions unnamed and tolerates missing fields', () => {
    // Given a sparse report with a custom region 900 preferred but unmeasured
    const netcheck = parseNetcheckJson('{"UDP":true,"PreferredDERP":900,"RegionLatency":{"901":12000000}}');
    // Then nothing is guessed
    expect(netcheck.preferredDerp).toEqual({ id: 900, code: null, latencyMs: null });
    expect(netcheck.regions).toEqual([{ id: 901, code: null, latencyMs: 12 }]);
    expect(netcheck.upnp).toBeNull();
    expect(netcheck.mappingVariesByDestIp).toBeNull();
  });
});
