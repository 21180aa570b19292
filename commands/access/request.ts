import { defineCommand, option } from '../../src/command.js';
import { requestOutcome, requestText, requestView } from '../../src/access/present.js';
import type { AccessRequest, Scope } from '../../src/access/types.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  description: 'Ask for time-bound access to a customer service; designated approvers decide',
  examples: [
    'byoc access request acme-prod --reason "merges stuck on shard 2" --ticket INC-4821 --duration 2h',
    'byoc access request acme-prod --reason "disk pressure" --scope clickhouse --no-wait --json',
  ],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    reason: option.string('--reason <text>', 'access.reason', 'why you need access (required)'),
    ticket: option.string('--ticket <id>', 'access.ticket', 'incident or ticket id'),
    duration: option.durationText('--duration <duration>', 'access.duration', 'how long the access should last, e.g. 2h'),
    scope: option.list('--scope <scopes>', 'access.scope', 'comma-separated: clickhouse, kubernetes'),
    wait: option.boolean('--[no-]wait', 'access.wait', 'wait for the decision (default: on a TTY)'),
  },
  async run({ service, reason, ticket, duration, scope, wait }, ctx): Promise<AccessRequest> {
    if (!reason?.trim()) {
      throw new UsageError('reason_required', 'a reason is required', { hint: 'Say why: --reason "merges stuck on shard 2" (or BYOC_REASON).' });
    }
    const broker = await ctx.client('broker');
    const created = await broker.create({
      service,
      reason,
      // Sent as typed, so the request keeps what was asked (`1h30m10s`); access.duration has a default, so it is set.
      duration: duration!,
      ...(ticket ? { ticket } : {}),
      ...(scope?.length ? { scopes: scope as Scope[] } : {}),
    });
    const shouldWait = wait ?? (ctx.output.stdoutIsTTY && ctx.output.stderrIsTTY);
    if (!shouldWait) return created;
    const { waitForDecision } = await import('../../src/access/wait.js');
    return waitForDecision(ctx, broker, created, Date.parse(created.pendingUntil) - ctx.clock.now().getTime());
  },
  text: requestText,
  view: requestView,
  outcome: requestOutcome,
});
