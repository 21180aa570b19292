import { defineCommand, option } from '../../src/command.js';
import { requestOutcome, requestText, requestView } from '../../src/access/present.js';
import type { AccessRequest, Scope } from '../../src/access/types.js';
import { UsageError } from '../../src/errors.js';
import { SCOPES } from '../../src/access/types.js';

export default defineCommand({
  examples: [
    'byoc access request acme-prod --reason "merges stuck on shard 2" --ticket INC-4821 --duration 2h',
    'byoc access request acme-prod --reason "disk pressure" --scope clickhouse --no-wait --json',
  ],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    reason: option.string({ flag: '--reason <text>', key: 'access.reason', env: 'BYOC_REASON', description: 'why you need access (required): an incident, a ticket' }),
    ticket: option.string({ flag: '--ticket <id>', key: 'access.ticket', env: 'BYOC_TICKET', description: 'incident or ticket id to attach to the request' }),
    duration: option.durationText({ flag: '--duration <duration>', key: 'access.duration', env: 'BYOC_DURATION', default: '1h', description: 'how long the access should last, e.g. 2h' }),
    scope: option.list({
      flag: '--scope <scopes>', key: 'access.scope', env: 'BYOC_SCOPE', choices: [...SCOPES], default: [...SCOPES],
      description: 'what the access covers',
    }),
    wait: option.boolean({ flag: '--[no-]wait', key: 'access.wait', env: 'BYOC_WAIT', defaultNote: 'on a TTY', description: 'wait for the decision' }),
  },
  async run({ service, reason, ticket, duration, scope, wait }, ctx): Promise<AccessRequest> {
    if (!reason?.trim()) {
      throw new UsageError('reason_required', 'a reason is required', { hint: 'Say why: --reason "merges stuck on shard 2" (or BYOC_REASON).' });
    }
    const broker = await ctx.client('broker');
    const created = await broker.create({
      service,
      reason,
      // Sent as typed, so the request keeps what was asked (`1h30m10s`).
      duration,
      ...(ticket ? { ticket } : {}),
      ...(scope.length ? { scopes: scope as Scope[] } : {}),
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
