import { describe, expect, it } from 'vitest';
import { checkTailscalePaths } from '../../../src/tailscale/check.js';
import { parsePingOutput } from '../../../src/tailscale/parse.js';
import { classifyPath, pingDownState } from '../../../src/tailscale/classify.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';

/**
 * Each row is a wording real tailscale prints when `tailscale ping` fails (research/tailscale/report.md sections
 * b and f, and the public threads named), with the verdict, the target's reason and the next step it must give.
 */
const WORDINGS = [
  // cmd/tailscale/cli/ping.go: a non-Running backend prints its state on stdout and exits 1.
  { label: 'Tailscale is stopped.', stdout: 'Tailscale is stopped.\n', stderr: '', verdict: 'tailscale-down', reason: 'tailscale-down', step: 'tailscale up' },
  { label: 'Logged out.', stdout: 'Logged out.\n', stderr: '', verdict: 'tailscale-down', reason: 'tailscale-down', step: 'tailscale login' },
  // tailscale/tailscale#3549: older CLIs print `no matching peer` when logged out.
  { label: 'no matching peer (logged out)', stdout: '', stderr: 'no matching peer\n', verdict: 'tailscale-down', reason: 'tailscale-down', step: 'tailscale login' },
  // tailscale/tailscale#7229 (Fedora, 1.36): the daemon's socket answered EOF.
  {
    label: 'failed to connect … Got error: … EOF',
    stdout: '',
    stderr: 'failed to connect to local tailscaled (which appears to be running as tailscaled, pid 147358). Got error: Get "http://local-tailscaled.sock/localapi/v0/status": EOF\n',
    verdict: 'tailscale-down',
    reason: 'tailscale-down',
    step: 'sudo systemctl restart tailscaled',
  },
  // tailscale/tailscale#16419 (Ubuntu): the Linux wording with the systemctl hint.
  {
    label: 'failed to connect … (sudo systemctl start tailscaled ?)',
    stdout: '',
    stderr: "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)\n",
    verdict: 'tailscale-down',
    reason: 'tailscale-down',
    step: 'sudo systemctl start tailscaled',
  },
  // CH3NGYZ/tailscale-openwrt#29 (OpenWrt, no systemctl): the same wording without the hint.
  {
    label: 'failed to connect … (OpenWrt, no hint)',
    stdout: '',
    stderr: "failed to connect to local tailscaled; it doesn't appear to be running\n",
    verdict: 'tailscale-down',
    reason: 'tailscale-down',
    step: 'sudo tailscaled',
  },
  // tailscale/tailscale#14077 (Windows 10 and 11).
  {
    label: 'failed to connect … context deadline exceeded (Windows)',
    stdout: '',
    stderr: 'failed to connect to local tailscaled (which appears to be running as tailscaled.exe, pid 8264). Got error: Get "http://local-tailscaled.sock/localapi/v0/status": context deadline exceeded\n',
    verdict: 'tailscale-down',
    reason: 'tailscale-down',
    step: 'pid 8264',
  },
  { label: 'macOS app not running', stdout: '', stderr: 'failed to connect to local Tailscale service; is Tailscale running?\n', verdict: 'tailscale-down', reason: 'tailscale-down', step: 'Open the Tailscale app' },
  { label: 'local tailscaled stopped', stdout: '', stderr: 'local tailscaled stopped\n', verdict: 'tailscale-down', reason: 'tailscale-down', step: 'tailscaled' },
  // CH3NGYZ/tailscale-openwrt#29: the LocalAPI connection reset before any pong.
  {
    label: 'LocalAPI connection reset',
    stdout: '',
    stderr: 'error Post "http://local-tailscaled.sock/localapi/v0/ping?ip=100.101.23.45&size=0&type=disco": read unix @->/var/run/tailscale/tailscaled.sock: read: connection reset by peer:\n',
    verdict: 'tailscale-down',
    reason: 'tailscale-down',
    step: 'tailscaled',
  },
  { label: 'no reply', stdout: tailscaleFixture('ping-no-reply.txt'), stderr: 'no reply\n', verdict: 'unreachable', reason: 'no-reply', step: null },
  // Before v1.26 (commit 3e1f2d01f) a lost ping was `timeout waiting for ping reply`.
  { label: 'timeout waiting for ping reply (pre-1.26)', stdout: 'timeout waiting for ping reply\ntimeout waiting for ping reply\n', stderr: 'no reply\n', verdict: 'unreachable', reason: 'no-reply', step: null },
  { label: 'unknown peer', stdout: '', stderr: 'unknown peer\n', verdict: 'error', reason: 'ping-error', step: null },
  { label: 'node found but lacks an IP', stdout: '', stderr: 'node found but lacks an IP\n', verdict: 'error', reason: 'ping-error', step: null },
  { label: 'an unforeseen message', stdout: '', stderr: 'something tailscale never said before\n', verdict: 'error', reason: 'ping-error', step: null },
] as const;

describe('a failed tailscale ping is the verdict, never a fallback to the status', () => {
  it.each(WORDINGS)('$label → $verdict', async ({ stdout, stderr, verdict, reason, step }) => {
    // Given a status where ch is Active with a direct CurAddr, and a ping to it failing with this wording
    const runner = new ScriptedRunner([
      { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
      { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
      { match: /^debug derp-map$/, stderr: 'unknown subcommand\n', exitCode: 1 },
      { match: /^ping /, stdout, stderr, exitCode: 1 },
    ]);
    // When the path is checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    // Then the verdict and the reason come from the failure, not from the status's `direct`
    expect(result.verdict).toBe(verdict);
    const [target] = result.targets;
    expect(target?.reason).toBe(reason);
    expect(target?.path).not.toBe('direct');
    expect(target?.evidence).toBe('ping');
    if (verdict === 'tailscale-down') {
      // And tailscale's state says it is down, with the exact next step, which is also the target's advice
      expect(result.state.up).toBe(false);
      expect(result.state.nextStep).toContain(step);
      expect(target?.advice).toEqual([result.state.nextStep]);
      // And the status's own facts are kept
      expect(result.state.version).toBe('1.102.3-t53a0d659a-g7c5e2b9d1');
    } else {
      expect(result.state.up).toBe(true);
    }
    if (verdict === 'error') {
      // And the message is kept
      expect(target?.detail).toBe(stderr.trim());
    }
  });

  it('keeps the relayed path when pongs came before tailscaled went away, and says it then failed', () => {
    // Given six DERP pongs, then the LocalAPI connection reset (CH3NGYZ/tailscale-openwrt#29)
    const pongs = Array.from({ length: 6 }, () => 'pong from 750e (100.64.0.3) via DERP(cn) in 23ms').join('\n');
    const ping = parsePingOutput({
      stdout: `${pongs}\n`,
      stderr: 'error Post "http://local-tailscaled.sock/localapi/v0/ping?ip=100.64.0.3&size=0&type=disco": read unix @->/var/run/tailscale/tailscaled.sock: read: connection reset by peer:\n',
      exitCode: 1,
    });
    // When classified
    const peer = { relay: 'nyc' } as Parameters<typeof classifyPath>[0];
    const result = classifyPath(peer, ping);
    // Then the pongs prove the DERP path, and the detail keeps the failure
    expect(result).toMatchObject({ path: 'derp', derpRegion: 'cn', evidence: 'ping' });
    expect(result.detail).toMatch(/^tailscale ping then failed: error Post/);
  });

  it('names no down state for errors that say nothing about tailscaled', () => {
    // Given errors about the target, not the daemon
    // Then pingDownState gives nothing for them
    expect(pingDownState({ kind: 'unknown-peer', message: 'unknown peer' })).toBeUndefined();
    expect(pingDownState({ kind: 'other', message: 'boom' })).toBeUndefined();
  });
});
