import { defineCommand, option, tsv } from '../../src/command.js';
import type { ConnectCheckResult, TargetName } from '../../src/connect/path-check.js';
import { NetworkError, RemoteError } from '../../src/errors.js';
import { SHARED } from '../../src/options.js';

export default defineCommand({
  examples: ['byoc connect check acme-prod', 'byoc connect check acme-prod --target clickhouse --require-direct', 'byoc connect check acme-prod --json | jq .verdict'],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    target: option.choice({ flag: '--target <target>', key: 'connect.target', env: 'BYOC_TARGET', choices: ['clickhouse', 'kubernetes', 'all'], default: 'all', description: 'which endpoints to check' }),
    requireDirect: option.boolean({
      flag: '--require-direct', key: 'connect.requireDirect', env: 'BYOC_REQUIRE_DIRECT', default: false,
      description: 'exit 6 unless every path is direct (not DERP or a peer relay)',
    }),
    // The doctor checks the path too, with the same count and timeout.
    count: SHARED.pingCount,
    timeout: SHARED.connectTimeout,
  },
  async run({ service, target, requireDirect, count, timeout }, ctx): Promise<ConnectCheckResult> {
    const { checkService } = await import('../../src/connect/path-check.js');
    return ctx.progress(`checking the path to ${service}`, checkService(ctx, service, { target: target satisfies TargetName | 'all', count, timeoutMs: timeout, requireDirect }));
  },
  // Stage timings follow the `...Ms` convention as elapsedMs; `ms` is their 0.1 name, kept as an alias until 0.3.
  json: (result) => ({ ...result, targets: result.targets.map((target) => ({ ...target, dns: timed(target.dns), tcp: timed(target.tcp), tls: timed(target.tls) })) }),
  text: (result) =>
    tsv([
      ['verdict', result.verdict],
      ...result.targets.map((target) => [
        target.name,
        target.path,
        target.endpoint ?? target.derpRegion ?? '',
        target.latencyMs ?? '',
        stage(target.dns),
        stage(target.tcp),
        stage(target.tls),
        target.url,
      ]),
      ...result.targets.flatMap((target) => target.advice.map((line) => ['advice', target.name, line])),
      ...(result.tailscale.up ? [] : [['tailscale', result.tailscale.state, result.tailscale.nextStep ?? '']]),
    ]),
  async view(result, render) {
    const { ConnectCheckView } = await import('../../src/ui/views/connect-check.js');
    return ConnectCheckView({ result, color: render.color });
  },
  outcome(result) {
    if (result.verdict === 'tailscale-down') {
      return new NetworkError('tailscale_down', `Tailscale is not usable here: ${result.tailscale.message}`, { hint: result.tailscale.nextStep ?? 'Start Tailscale and retry.' });
    }
    if (result.verdict === 'error') {
      // tailscale failed without naming a path problem: a failed subprocess (exit 5), not a network verdict.
      const failed = result.targets.find((target) => target.reason === 'ping-error');
      const message = result.tailscale.up ? `tailscale ping failed for ${failed?.name ?? 'an endpoint'}: ${failed?.detail ?? 'no pong and no reason'}` : result.tailscale.message;
      return new RemoteError('tailscale_error', message, { hint: (result.tailscale.up ? failed?.advice[0] : result.tailscale.nextStep) ?? 'Run tailscale status and tailscale ping by hand to see what fails.' });
    }
    if (result.verdict === 'unreachable') {
      const down = result.targets.filter((target) => target.path === 'unreachable' || target.path === 'unknown').map((target) => target.name);
      return new NetworkError('unreachable', `no Tailscale path to ${down.join(' and ')} of ${result.service}`, { hint: result.targets.flatMap((target) => target.advice)[0] ?? 'Check the peer is online: tailscale status' });
    }
    if (result.verdict === 'relayed' && result.requireDirect) {
      return new NetworkError('relayed', `the path to ${result.service} is relayed, and --require-direct was asked`, { hint: result.targets.flatMap((target) => target.advice)[0] ?? 'Open UDP 41641 so NAT traversal can succeed.' });
    }
    return undefined;
  },
});

function stage(result: { ok: boolean; ms?: number } | { skipped: true }): string {
  if ('skipped' in result) return 'skipped';
  return `${result.ok ? 'ok' : 'fail'}${result.ms === undefined ? '' : ` ${Math.round(result.ms)}ms`}`;
}

function timed<T extends object>(stage: T): T & { elapsedMs?: number } {
  return 'ms' in stage && typeof stage.ms === 'number' ? { ...stage, elapsedMs: stage.ms } : stage;
}
