import { describe, expect, it } from 'vitest';
import { isAbort, RemoteError, UsageError } from '../../../src/errors.js';
import { checkTailscalePaths, goDuration } from '../../../src/tailscale/check.js';
import { TailscaleNotInstalledError, TailscaleTimeoutError } from '../../../src/tailscale/runner.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner, type ScriptedReply } from '../../fakes/tailscale/runner.js';

const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';
const K8S = 'k8s.abc123.us-east-1.aws.byoc.example.com';
const HOSTS = [
  { name: 'clickhouse', host: CH },
  { name: 'kubernetes', host: K8S },
];
const WARNING = '# Warning: this JSON format is not yet considered a stable interface\n';

const statusReply = (file: string): ScriptedReply => ({ match: /^status --json$/, stdout: tailscaleFixture(file) });
const netcheckReply = (file = 'netcheck-good.json', delayMs = 0): ScriptedReply => ({
  match: /^netcheck --format=json$/,
  stdout: tailscaleFixture(file),
  stderr: WARNING,
  delayMs,
});
const pingReply = (ip: string, stdout: string, extra: Partial<ScriptedReply> = {}): ScriptedReply => ({
  match: new RegExp(`^ping .* ${ip.replaceAll('.', '\\.')}$`),
  stdout,
  ...extra,
});
const K8S_DIRECT = 'pong from k8s (100.88.12.34) via 198.51.100.24:41641 in 3ms\n';

describe('checkTailscalePaths', () => {
  it('reports both endpoints direct after pinging them, with the exact CLI arguments', async () => {
    // Given tailscale running, both peers answering direct
    const runner = new ScriptedRunner([
      statusReply('status-direct.json'),
      netcheckReply(),
      pingReply('100.101.23.45', tailscaleFixture('ping-direct.txt')),
      pingReply('100.88.12.34', K8S_DIRECT),
    ]);
    // When the paths are checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS, count: 4, timeoutMs: 2500 });
    // Then the verdict is direct, each target names its peer, endpoint and latency
    expect(result.verdict).toBe('direct');
    expect(result.state).toMatchObject({ up: true, state: 'Running' });
    expect(result.netcheck?.preferredDerp?.code).toBe('nyc');
    expect(result.targets).toEqual([
      expect.objectContaining({
        name: 'clickhouse',
        host: CH,
        peer: { dnsName: `${CH}.`, hostName: 'ip-10-20-1-15', ips: ['100.101.23.45', 'fd7a:115c:a1e0::9a17:2d2d'], online: true },
        pingTarget: '100.101.23.45',
        path: 'direct',
        endpoint: '198.51.100.31:41641',
        derpRegion: null,
        latencyMs: 2,
        evidence: 'ping',
        advice: [],
      }),
      expect.objectContaining({ name: 'kubernetes', path: 'direct', endpoint: '198.51.100.24:41641', latencyMs: 3 }),
    ]);
    // And status and netcheck ran once each, each ping with -c, --timeout and the peer's Tailscale IPv4
    expect(runner.argsOf(/^status/)).toEqual([['status', '--json']]);
    expect(runner.argsOf(/^netcheck/)).toEqual([['netcheck', '--format=json']]);
    expect(runner.argsOf(/^ping/)).toEqual([
      ['ping', '-c', '4', '--timeout', '2500ms', '100.101.23.45'],
      ['ping', '-c', '4', '--timeout', '2500ms', '100.88.12.34'],
    ]);
    // And the ping's own deadline leaves room for every attempt and the CLI's 1 s pauses
    const pingCall = runner.calls.find((call) => call.args[0] === 'ping');
    expect(pingCall?.options.timeoutMs).toBe(4 * (2500 + 1000) + 5000);
  });

  it('reports relayed with advice when pings only come back through DERP', async () => {
    // Given a DERP status, a hard-NAT netcheck and DERP-only pings
    const runner = new ScriptedRunner([
      statusReply('status-derp.json'),
      netcheckReply('netcheck-hard-nat.json'),
      pingReply('100.101.23.45', tailscaleFixture('ping-derp-only.txt'), { stderr: 'direct connection not established\n', exitCode: 1 }),
      pingReply('100.88.12.34', K8S_DIRECT),
    ]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS });
    // Then ch is DERP with advice, k8s direct, verdict relayed
    expect(result.verdict).toBe('relayed');
    const ch = result.targets[0];
    expect(ch).toMatchObject({ path: 'derp', derpRegion: 'nyc', latencyMs: 31.5 });
    expect(ch?.advice.join('\n')).toContain('hard NAT');
    expect(ch?.advice.join('\n')).toContain('inbound UDP 41641');
    expect(ch?.advice.join('\n')).toContain(`Traffic to ${CH} is relayed`);
    expect(result.targets[1]).toMatchObject({ path: 'direct', advice: [] });
  });

  it('reports unreachable for an offline peer that does not answer', async () => {
    // Given ch offline and silent
    const runner = new ScriptedRunner([
      statusReply('status-offline.json'),
      netcheckReply(),
      pingReply('100.101.23.45', tailscaleFixture('ping-no-reply.txt'), { stderr: 'no reply\n', exitCode: 1 }),
      pingReply('100.88.12.34', K8S_DIRECT),
    ]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS });
    // Then the verdict is unreachable and ch's advice says how to investigate
    expect(result.verdict).toBe('unreachable');
    expect(result.targets[0]).toMatchObject({ path: 'unreachable', reason: 'no-reply' });
    expect(result.targets[0]?.advice.join('\n')).toContain('tailscale ping 100.101.23.45');
  });

  it('does not ping a host that is no tailnet peer, and reports it unknown', async () => {
    // Given a host that matches no peer (only a HostName matches)
    const runner = new ScriptedRunner([statusReply('status-direct.json'), netcheckReply(), pingReply('100.88.12.34', K8S_DIRECT)]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: 'ip-10-20-1-15' }, HOSTS[1]!] });
    // Then it is unknown with advice, only k8s is pinged, and the verdict is unreachable
    expect(result.targets[0]).toMatchObject({ path: 'unknown', reason: 'not-found', peer: null, pingTarget: null });
    expect(result.targets[0]?.advice[0]).toContain('No peer in this tailnet');
    expect(runner.argsOf(/^ping/)).toHaveLength(1);
    expect(result.verdict).toBe('unreachable');
  });

  it('uses addresses resolved by the caller to find the peer', async () => {
    // Given a non-MagicDNS host with a resolve override to ch's address
    const runner = new ScriptedRunner([statusReply('status-direct.json'), netcheckReply(), pingReply('100.101.23.45', tailscaleFixture('ping-direct.txt'))]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: 'clickhouse.internal.example', addresses: ['100.101.23.45'] }] });
    // Then ch is found and pinged
    expect(result.targets[0]).toMatchObject({ path: 'direct', peer: { dnsName: `${CH}.` } });
  });

  it('pings every host concurrently, alongside netcheck', async () => {
    // Given two pings and netcheck that each take 200 ms
    const runner = new ScriptedRunner([
      statusReply('status-direct.json'),
      netcheckReply('netcheck-good.json', 200),
      pingReply('100.101.23.45', tailscaleFixture('ping-direct.txt'), { delayMs: 200 }),
      pingReply('100.88.12.34', K8S_DIRECT, { delayMs: 200 }),
    ]);
    // When checked
    const started = performance.now();
    await checkTailscalePaths({ runner, hosts: HOSTS });
    const elapsed = performance.now() - started;
    // Then all three were in flight at once, and the whole took about the longest, not the sum (600 ms)
    expect(runner.maxInFlight).toBe(3);
    expect(elapsed).toBeLessThan(500);
  });

  it('keeps pongs printed before its own deadline killed a ping', async () => {
    // Given a ping killed by the runner's deadline after two DERP pongs
    const partial = 'pong from ch (100.101.23.45) via DERP(nyc) in 40ms\npong from ch (100.101.23.45) via DERP(nyc) in 30ms\n';
    const runner = new ScriptedRunner([
      statusReply('status-direct.json'),
      netcheckReply(),
      { match: /^ping .* 100\.101\.23\.45$/, error: new TailscaleTimeoutError('tailscale', ['ping'], 1, { stdout: partial, stderr: '' }) },
    ]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [HOSTS[0]!] });
    // Then the pongs still count: DERP
    expect(result.targets[0]).toMatchObject({ path: 'derp', latencyMs: 35 });
  });

  it('does not fall back to the status when a ping is killed without any pong: the verdict is error', async () => {
    // Given a DERP status, and a ping killed before printing anything
    const runner = new ScriptedRunner([
      statusReply('status-derp.json'),
      netcheckReply(),
      { match: /^ping/, error: new TailscaleTimeoutError('tailscale', ['ping'], 1, { stdout: '', stderr: '' }) },
    ]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [HOSTS[0]!] });
    // Then the ping's failure is the answer (not the status's `derp`), and the verdict is error
    expect(result.targets[0]).toMatchObject({ path: 'unknown', reason: 'ping-error', evidence: 'ping' });
    expect(result.targets[0]?.detail).toMatch(/did not finish/);
    expect(result.verdict).toBe('error');
  });

  it('still classifies when netcheck fails, and says so', async () => {
    // Given netcheck failing
    const runner = new ScriptedRunner([
      statusReply('status-derp.json'),
      { match: /^netcheck/, stderr: 'netcheck: no DERP map\n', exitCode: 1 },
      pingReply('100.101.23.45', tailscaleFixture('ping-derp-only.txt'), { stderr: 'direct connection not established\n', exitCode: 1 }),
    ]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [HOSTS[0]!] });
    // Then the path is known, netcheck null with its error, and the advice says netcheck is missing
    expect(result.netcheck).toBeNull();
    expect(result.netcheckError).toBe('tailscale netcheck exited with 1: netcheck: no DERP map');
    expect(result.targets[0]?.path).toBe('derp');
    expect(result.targets[0]?.advice.join('\n')).toContain('tailscale netcheck gave no report');
  });

  it.each([
    ['not installed', { match: /^status/, error: new TailscaleNotInstalledError('tailscale') }, 'not-installed', 'https://tailscale.com/download', 'tailscale-down'],
    ['daemon not running', { match: /^status/, stderr: tailscaleFixture('daemon-not-running-linux.stderr.txt'), exitCode: 1 }, 'daemon-not-running', 'sudo systemctl start tailscaled', 'tailscale-down'],
    ['logged out', statusReply('status-needs-login.json'), 'NeedsLogin', 'https://login.byoc.example.com/a/4f1c9e27d80b', 'tailscale-down'],
    ['stopped', statusReply('status-stopped.json'), 'Stopped', 'tailscale up', 'tailscale-down'],
    ['starting', statusReply('status-starting.json'), 'Starting', 'Wait a few seconds', 'tailscale-down'],
    ['needs machine auth', statusReply('status-needs-machine-auth.json'), 'NeedsMachineAuth', 'approve this machine', 'tailscale-down'],
    ['hung', { match: /^status/, error: new TailscaleTimeoutError('tailscale', ['status', '--json'], 10, { stdout: '', stderr: '' }) }, 'timeout', 'restart', 'error'],
  ] as const)('stops at the status when tailscale is %s', async (_label, reply, state, step, verdict) => {
    // Given a status call that shows tailscale unusable
    const runner = new ScriptedRunner([reply]);
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: HOSTS });
    // Then nothing else runs, the verdict is tailscale-down and every target carries the next step
    expect(runner.calls.map((call) => call.args[0])).toEqual(['status']);
    expect(result.verdict).toBe(verdict);
    expect(result.state).toMatchObject({ up: false, state });
    expect(result.state.nextStep).toContain(step);
    expect(result.netcheck).toBeNull();
    expect(result.targets.map((target) => [target.path, target.reason, target.advice])).toEqual(
      HOSTS.map(() => ['unknown', 'tailscale-down', [result.state.nextStep]]),
    );
  });

  it('lets malformed status output surface as a RemoteError', async () => {
    // Given status printing something that is not JSON with exit 0
    const runner = new ScriptedRunner([{ match: /^status/, stdout: 'garbage' }]);
    // Then the check rejects with a RemoteError
    await expect(checkTailscalePaths({ runner, hosts: HOSTS })).rejects.toBeInstanceOf(RemoteError);
  });

  it('propagates an abort and stops the pings', async () => {
    // Given slow pings and a signal aborted mid-way
    const controller = new AbortController();
    const runner = new ScriptedRunner([
      statusReply('status-direct.json'),
      netcheckReply('netcheck-good.json', 5000),
      pingReply('100.101.23.45', '', { delayMs: 5000 }),
      pingReply('100.88.12.34', '', { delayMs: 5000 }),
    ]);
    setTimeout(() => controller.abort(), 20);
    // When checked
    const outcome = await checkTailscalePaths({ runner, hosts: HOSTS, signal: controller.signal }).catch((error: unknown) => error);
    // Then it rejects as an abort, and every call received the signal
    expect(isAbort(outcome)).toBe(true);
    expect(runner.calls.every((call) => call.options.signal === controller.signal)).toBe(true);
  });

  it('refuses no hosts, a zero count and a non-positive timeout', async () => {
    // Given invalid options
    const runner = new ScriptedRunner([]);
    // Then each is a UsageError before anything runs
    await expect(checkTailscalePaths({ runner, hosts: [] })).rejects.toBeInstanceOf(UsageError);
    await expect(checkTailscalePaths({ runner, hosts: HOSTS, count: 0 })).rejects.toThrow(/at least 1/);
    await expect(checkTailscalePaths({ runner, hosts: HOSTS, timeoutMs: 0 })).rejects.toThrow(/positive/);
    expect(runner.calls).toEqual([]);
  });
});

describe('goDuration', () => {
  it('writes whole seconds as s and the rest as ms', () => {
    // Given millisecond timeouts
    // Then they become Go durations
    expect(goDuration(3000)).toBe('3s');
    expect(goDuration(2500)).toBe('2500ms');
  });
});
