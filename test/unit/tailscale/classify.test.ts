import { describe, expect, it } from 'vitest';
import { adviceFor, classifyPath, findPeer, tailscaleState, verdictOf, type PathClassification } from '../../../src/tailscale/classify.js';
import { parseNetcheckJson, parsePingOutput, parseStatusJson, readStatusResult, type TailscalePeer } from '../../../src/tailscale/parse.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';

const status = (file: string) => parseStatusJson(tailscaleFixture(file));
const netcheck = (file: string) => parseNetcheckJson(tailscaleFixture(file));
const ping = (stdout: string, stderr = '', exitCode = 0) => parsePingOutput({ stdout, stderr, exitCode });
const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';
const peerOf = (file: string, host = CH): TailscalePeer => {
  const peer = findPeer(status(file), host);
  if (!peer) throw new Error(`no ${host} in ${file}`);
  return peer;
};

describe('findPeer', () => {
  const direct = status('status-direct.json');

  it.each([CH, `${CH}.`, 'CH.ABC123.us-east-1.aws.byoc.example.com.'])('finds ch by its MagicDNS name %s', (host) => {
    // Given the direct status
    // When looking up the MagicDNS name, with or without the dot, in any case
    // Then ch is found
    expect(findPeer(direct, host)?.hostName).toBe('ip-10-20-1-15');
  });

  it.each(['100.101.23.45', 'fd7a:115c:a1e0::9a17:2d2d', 'fd7a:115c:a1e0:0:0:0:9a17:2d2d', '[fd7a:115c:a1e0::9a17:2d2d]'])(
    'finds ch by its Tailscale address %s',
    (host) => {
      // Given an IP literal in any IPv6 spelling
      // Then the peer with that Tailscale IP is found
      expect(findPeer(direct, host)?.dnsName).toBe(`${CH}.`);
    },
  );

  it('finds a peer through addresses the caller resolved (network.resolve overrides)', () => {
    // Given a name that is not a MagicDNS name, resolved by the caller to ch's address
    // Then ch is found through the address
    expect(findPeer(direct, 'clickhouse.internal.example', ['10.0.0.9', '100.101.23.45'])?.dnsName).toBe(`${CH}.`);
  });

  it('never matches by HostName alone', () => {
    // Given ch's OS hostname and k8s, whose HostName equals its short name
    // When looking them up without a MagicDNS name or address
    // Then nothing is found
    expect(findPeer(direct, 'ip-10-20-1-15')).toBeUndefined();
    expect(findPeer(direct, 'k8s')).toBeUndefined();
    expect(findPeer(direct, 'ch')).toBeUndefined();
  });

  it('does not match a name that only shares a suffix or prefix', () => {
    // Given near-miss names
    // Then nothing is found
    expect(findPeer(direct, `x${CH}`)).toBeUndefined();
    expect(findPeer(direct, 'ch.abc123.us-east-1.aws.byoc.example')).toBeUndefined();
    expect(findPeer(direct, '100.101.23.4')).toBeUndefined();
  });
});

describe('classifyPath from the status alone', () => {
  it.each([
    ['status-direct.json', { path: 'direct', endpoint: '198.51.100.31:41641', derpRegion: null, reason: 'status-direct' }],
    ['status-derp.json', { path: 'derp', endpoint: null, derpRegion: 'nyc', reason: 'status-derp' }],
    ['status-peer-relay.json', { path: 'peer-relay', peerRelay: '198.51.100.77:7777:vni:13', derpRegion: null, reason: 'status-peer-relay' }],
    ['status-offline.json', { path: 'unreachable', reason: 'offline', detail: 'last seen 2026-08-20T15:12:40Z' }],
    ['status-idle.json', { path: 'unknown', reason: 'idle' }],
    ['status-key-expired.json', { path: 'unreachable', reason: 'key-expired' }],
  ])('classifies ch in %s', (file, expected) => {
    // Given a status fixture and no ping
    // When ch is classified
    // Then the path follows the CLI's precedence (Relay alone is the home region on direct paths)
    expect(classifyPath(peerOf(file))).toMatchObject({ ...expected, evidence: 'status', latencyMs: null });
  });

  it('says unknown for a peer that is not in the tailnet', () => {
    // Given no peer
    // Then the path is unknown, not found
    expect(classifyPath(undefined)).toMatchObject({ path: 'unknown', reason: 'not-found', evidence: 'none' });
  });

  it('says unknown for an active peer with no path fields at all', () => {
    // Given an active peer without CurAddr, PeerRelay or Relay
    const peer = { ...peerOf('status-derp.json'), relay: null };
    // Then the path is unknown
    expect(classifyPath(peer)).toMatchObject({ path: 'unknown', reason: 'no-path' });
  });
});

describe('classifyPath with a ping', () => {
  it('a pong via ip:port wins over a DERP status', () => {
    // Given a status that says DERP, and a later ping that went direct after two DERP pongs
    const result = classifyPath(peerOf('status-derp.json'), ping(tailscaleFixture('ping-derp-then-direct.txt')));
    // Then the path is direct, with the pong's endpoint and latency
    expect(result).toMatchObject({ path: 'direct', endpoint: '198.51.100.31:41641', latencyMs: 2, evidence: 'ping', reason: 'pong-direct' });
  });

  it('a pong via ip:port makes an idle or offline-looking peer direct', () => {
    // Given statuses without a usable path, and a direct pong
    const direct = ping(tailscaleFixture('ping-direct.txt'));
    // Then the fresh pong decides
    expect(classifyPath(peerOf('status-idle.json'), direct).path).toBe('direct');
    expect(classifyPath(peerOf('status-offline.json'), direct).path).toBe('direct');
  });

  it('only DERP pongs mean DERP even when the status had a (stale) CurAddr', () => {
    // Given a status with CurAddr, then ten pongs all via DERP(nyc) ending in "direct connection not established"
    const result = classifyPath(peerOf('status-direct.json'), ping(tailscaleFixture('ping-derp-only.txt'), 'direct connection not established\n', 1));
    // Then the path is DERP in nyc with the median pong latency
    expect(result).toMatchObject({ path: 'derp', derpRegion: 'nyc', endpoint: null, latencyMs: 31.5, evidence: 'ping', reason: 'pong-derp' });
  });

  it('takes the home region when the pong names no region', () => {
    // Given a pong via DERP() (unknown region)
    const result = classifyPath(peerOf('status-derp.json'), ping('pong from ch (100.101.23.45) via DERP() in 30ms\n', 'direct connection not established\n', 1));
    // Then the status's home region stands in
    expect(result).toMatchObject({ path: 'derp', derpRegion: 'nyc' });
  });

  it('peer-relay pongs mean peer-relay', () => {
    // Given peer-relay pongs
    const result = classifyPath(peerOf('status-direct.json'), ping(tailscaleFixture('ping-peer-relay.txt'), 'direct connection not established\n', 1));
    // Then the path is peer-relay with the relay address and median latency
    expect(result).toMatchObject({ path: 'peer-relay', peerRelay: '198.51.100.77:7777:vni:13', latencyMs: 10, evidence: 'ping' });
  });

  it('no reply means unreachable even when the status said direct', () => {
    // Given a direct status but a ping that got no pong
    const result = classifyPath(peerOf('status-direct.json'), ping(tailscaleFixture('ping-no-reply.txt'), 'no reply\n', 1));
    // Then the peer is unreachable
    expect(result).toMatchObject({ path: 'unreachable', reason: 'no-reply', evidence: 'ping', detail: '5 attempt(s) without a pong' });
  });

  it('an expired key reported by ping is unreachable', () => {
    // Given the ping error for an expired key
    const result = classifyPath(peerOf('status-direct.json'), ping('', "peer's node key has expired\n", 1));
    // Then unreachable, key-expired
    expect(result).toMatchObject({ path: 'unreachable', reason: 'key-expired', evidence: 'ping' });
  });

  it('a ping that says tailscaled stopped does not fall back to the direct status', () => {
    // Given a direct status, and a ping ending with `local tailscaled stopped`
    const result = classifyPath(peerOf('status-direct.json'), ping('', 'local tailscaled stopped\n', 1));
    // Then the ping decides: tailscale is down, with its message
    expect(result).toMatchObject({ path: 'unknown', evidence: 'ping', reason: 'tailscale-down', detail: 'local tailscaled stopped' });
  });
});

describe('tailscaleState', () => {
  it('Running is up with no next step', () => {
    // Given a running status
    const state = tailscaleState(status('status-derp.json'));
    // Then it is up, and health and userspace mode are reported
    expect(state).toMatchObject({ up: true, state: 'Running', nextStep: null, tun: false, version: '1.102.3-t53a0d659a-g7c5e2b9d1' });
    expect(state.health).toHaveLength(1);
  });

  it.each([
    ['status-needs-login.json', 'NeedsLogin', 'open https://login.byoc.example.com/a/4f1c9e27d80b'],
    ['status-needs-machine-auth.json', 'NeedsMachineAuth', 'tailnet admin to approve this machine'],
    ['status-stopped.json', 'Stopped', 'tailscale up'],
    ['status-starting.json', 'Starting', 'Wait a few seconds and re-run'],
  ])('%s is %s, not up, and says what to do', (file, name, step) => {
    // Given a non-running status
    const state = tailscaleState(status(file));
    // Then it is down with the exact next step
    expect(state.up).toBe(false);
    expect(state.state).toBe(name);
    expect(state.nextStep).toContain(step);
  });

  it('NeedsLogin without a login URL says tailscale login', () => {
    // Given NeedsLogin with no AuthURL
    const state = tailscaleState({ ...status('status-needs-login.json'), authUrl: '' });
    // Then the step is the login command
    expect(state.nextStep).toMatch(/^Log in: tailscale login/);
  });

  it.each([
    ['daemon-not-running-linux.stderr.txt', 'sudo systemctl start tailscaled'],
    ['daemon-not-running-linux-no-systemctl.stderr.txt', 'sudo tailscaled --state='],
    ['daemon-not-running-macos.stderr.txt', 'Open the Tailscale app'],
    ['daemon-not-running-windows.stderr.txt', 'net start Tailscale'],
    ['daemon-not-running-pid.stderr.txt', 'tailscaled runs (pid 1234) but its socket does not answer'],
  ])('%s is daemon-not-running with the platform’s step', (file, step) => {
    // Given the daemon connect error
    const state = tailscaleState(readStatusResult({ stdout: '', stderr: tailscaleFixture(file), exitCode: 1 }));
    // Then the state names it and the step fits the platform
    expect(state).toMatchObject({ up: false, state: 'daemon-not-running' });
    expect(state.nextStep).toContain(step);
  });

  it('not installed says how to install or configure the binary', () => {
    // Given the runner found no binary
    const state = tailscaleState({ kind: 'not-installed', bin: 'tailscale', message: 'the tailscale CLI was not found: tailscale' });
    // Then the step names the install and the setting
    expect(state).toMatchObject({ up: false, state: 'not-installed' });
    expect(state.nextStep).toContain('https://tailscale.com/download');
    expect(state.nextStep).toContain('tailscale.bin');
  });

  it('a timeout, the human backend lines and unknown errors are down with a step', () => {
    // Given the other failure kinds
    // Then none is up and each has a step
    const timeout = tailscaleState({ kind: 'timeout', message: 'slow' });
    const stopped = tailscaleState({ kind: 'backend-not-running', backendState: 'Stopped', message: 'Tailscale is stopped.' });
    const error = tailscaleState({ kind: 'error', message: 'boom', exitCode: 1 });
    const other = tailscaleState({ ...status('status-direct.json'), backendState: 'InUseOtherUser' });
    expect(timeout.nextStep).toContain('restart');
    expect(stopped).toMatchObject({ up: false, state: 'Stopped', nextStep: 'Connect: tailscale up, then re-run.' });
    expect(error).toMatchObject({ up: false, state: 'error' });
    expect(other).toMatchObject({ up: false, state: 'InUseOtherUser' });
    expect(other.nextStep).toContain('another user');
  });
});

describe('adviceFor', () => {
  const derp: PathClassification = {
    path: 'derp',
    endpoint: null,
    peerRelay: null,
    derpRegion: 'nyc',
    latencyMs: 31.5,
    evidence: 'ping',
    reason: 'pong-derp',
    detail: null,
  };
  const context = { host: CH, peerName: CH, pingTarget: '100.101.23.45' };

  it('is empty for a direct path', () => {
    // Given a direct classification
    // Then there is nothing to fix
    expect(adviceFor({ ...derp, path: 'direct', derpRegion: null, endpoint: '198.51.100.31:41641' }, netcheck('netcheck-hard-nat.json'), context)).toEqual([]);
  });

  it('explains a hard NAT with no port mapping, the ports to open and the DERP latency', () => {
    // Given a DERP path and a hard-NAT netcheck
    const advice = adviceFor(derp, netcheck('netcheck-hard-nat.json'), context).join('\n');
    // Then it names the relay, the NAT, the missing port mapping, the ports on both sides and the region latency
    expect(advice).toContain(`Traffic to ${CH} is relayed through DERP region nyc (pongs in 31.5 ms)`);
    expect(advice).toContain('hard NAT (netcheck: MappingVariesByDestIP true, 4 different public mappings seen)');
    expect(advice).toContain('UPnP, NAT-PMP and PCP all unavailable');
    expect(advice).toContain('outbound UDP 41641 and UDP 3478');
    expect(advice).toContain('inbound UDP 41641 on the customer’s side');
    expect(advice).toContain('DERP region nyc is 4.1 ms from here, the nearest region.');
    expect(advice).not.toContain('UDP is blocked');
  });

  it('explains blocked UDP', () => {
    // Given a DERP path and a UDP-blocked netcheck
    const advice = adviceFor(derp, netcheck('netcheck-udp-blocked.json'), context).join('\n');
    // Then UDP blocking is the culprit and the hard-NAT story is not told
    expect(advice).toContain('UDP is blocked on this network (netcheck: UDP false)');
    expect(advice).not.toContain('hard NAT');
    expect(advice).toContain('DERP region nyc is 38.2 ms from here');
  });

  it('does not blame the missing port mapping on an easy NAT: this side is fine', () => {
    // Given the no-port-mapping netcheck (UDP fine, NAT easy: MappingVariesByDestIP false)
    const advice = adviceFor(derp, netcheck('netcheck-no-port-mapping.json'), context).join('\n');
    // Then no port mapping is not a culprit, and the blocker is placed on the other side
    expect(advice).not.toContain('No port mapping');
    expect(advice).toContain('This side is fine: the blocker is likely on the other side.');
    expect(advice).toContain('MappingVariesByDestIP false');
  });

  it('still names the missing port mapping behind a hard NAT', () => {
    // Given a hard NAT with no port mapping protocol at all
    const hard = { ...netcheck('netcheck-no-port-mapping.json'), mappingVariesByDestIp: true };
    const advice = adviceFor(derp, hard, context).join('\n');
    // Then both the hard NAT and the missing mapping are named, and this side is not called fine
    expect(advice).toContain('hard NAT');
    expect(advice).toContain('No port mapping on this network');
    expect(advice).not.toContain('This side is fine');
  });

  it('points at the customer’s side when this network looks fine', () => {
    // Given a good netcheck
    const advice = adviceFor(derp, netcheck('netcheck-good.json'), context).join('\n');
    // Then the blocker is placed on the customer’s side
    expect(advice).toContain('This side is fine: the blocker is likely on the other side.');
    expect(advice).toContain(`dropping inbound UDP 41641 to ${CH}`);
  });

  it('names a relay region that is not the nearest, with both latencies', () => {
    // Given traffic relayed through ord while nyc is nearest
    const advice = adviceFor({ ...derp, derpRegion: 'ord' }, netcheck('netcheck-good.json'), context).join('\n');
    // Then both regions and latencies are named
    expect(advice).toContain('DERP region ord is 22 ms from here; the nearest DERP region from here is nyc at 4.1 ms.');
  });

  it('says when netcheck is missing', () => {
    // Given no netcheck
    const advice = adviceFor(derp, null, context).join('\n');
    // Then it says the cause is unknown and still gives the ports
    expect(advice).toContain('tailscale netcheck gave no report');
    expect(advice).toContain('inbound UDP 41641');
  });

  it('describes a peer relay', () => {
    // Given a peer-relay classification
    const advice = adviceFor({ ...derp, path: 'peer-relay', derpRegion: null, peerRelay: '198.51.100.77:7777:vni:13', latencyMs: 10 }, netcheck('netcheck-hard-nat.json'), context);
    // Then it names the relay and the NAT
    expect(advice[0]).toContain('peer relay at 198.51.100.77:7777:vni:13 (pongs in 10 ms)');
    expect(advice.join('\n')).toContain('hard NAT');
  });

  it('tells how to investigate an unreachable peer', () => {
    // Given offline and no-reply classifications
    const offline = adviceFor(classifyPath(peerOf('status-offline.json')), netcheck('netcheck-good.json'), context).join('\n');
    const silent = adviceFor({ ...derp, path: 'unreachable', reason: 'no-reply', detail: '5 attempt(s) without a pong' }, netcheck('netcheck-good.json'), context).join('\n');
    // Then it says offline / no answer, and to check online, ACLs and ping by hand
    expect(offline).toContain('is offline in the tailnet');
    expect(offline).toContain('last seen 2026-08-20T15:12:40Z');
    expect(silent).toContain('did not answer tailscale ping (5 attempt(s) without a pong)');
    for (const text of [offline, silent]) {
      expect(text).toContain('tailnet ACLs');
      expect(text).toContain('tailscale ping 100.101.23.45');
    }
  });

  it('says when no DERP region answered either', () => {
    // Given an unreachable peer and a netcheck with no region latency
    const advice = adviceFor({ ...derp, path: 'unreachable', reason: 'no-reply' }, parseNetcheckJson('{"UDP":false}'), context).join('\n');
    // Then it points at outbound HTTPS to DERP
    expect(advice).toContain('reached no DERP region');
  });

  it('explains an unknown peer and an idle one', () => {
    // Given a not-found and an idle classification
    const notFound = adviceFor(classifyPath(undefined), null, { host: 'nope.example' });
    const idle = adviceFor(classifyPath(peerOf('status-idle.json')), null, context);
    // Then each says what to check or run
    expect(notFound[0]).toContain('No peer in this tailnet has the MagicDNS name or Tailscale address nope.example');
    expect(idle[0]).toContain('is idle');
    expect(idle[0]).toContain('tailscale ping 100.101.23.45');
  });
});

describe('verdictOf', () => {
  const up = { up: true, state: 'Running' };
  const targets = (...paths: PathClassification['path'][]) => paths.map((path) => ({ path }));

  it.each([
    [targets('direct', 'direct'), 'direct'],
    [targets('direct', 'derp'), 'relayed'],
    [targets('peer-relay', 'direct'), 'relayed'],
    [targets('derp', 'unreachable'), 'unreachable'],
    [targets('direct', 'unknown'), 'unreachable'],
    [targets(), 'unreachable'],
  ] as const)('%j → %s', (list, verdict) => {
    // Given running tailscale and these paths
    // Then the verdict follows unreachable > relayed > direct, with unknown counted as not reachable
    expect(verdictOf(list, up)).toBe(verdict);
  });

  it('is tailscale-down when the daemon is not usable, whatever the targets', () => {
    // Given tailscale down
    // Then the verdict is tailscale-down
    expect(verdictOf(targets('direct'), { up: false, state: 'Stopped' })).toBe('tailscale-down');
  });

  it.each([
    [[{ path: 'direct' }, { path: 'unknown', reason: 'ping-error' }], 'error'],
    [[{ path: 'unreachable' }, { path: 'unknown', reason: 'ping-error' }], 'unreachable'],
    [[{ path: 'derp' }, { path: 'unknown', reason: 'tailscale-down' }], 'tailscale-down'],
    [[{ path: 'unreachable' }, { path: 'unknown', reason: 'tailscale-down' }], 'tailscale-down'],
  ] as const)('%j → %s (a ping’s failure, not the status, decides)', (list, verdict) => {
    // Given running tailscale by the status, and these targets
    // Then tailscale-down (from a ping) > unreachable > error > relayed > direct
    expect(verdictOf(list, up)).toBe(verdict);
  });

  it.each(['error', 'timeout'])('is error, not tailscale-down, when the status itself failed (%s)', (state) => {
    // Given a status that could not be read
    // Then the verdict is error (exit 5), whatever the targets
    expect(verdictOf(targets('direct'), { up: false, state })).toBe('error');
  });
});
