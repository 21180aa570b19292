import { defineCommand, option } from '../../src/command.js';
import { requestRows } from '../../src/access/present.js';
import { STATUSES, type AccessRequest, type RequestStatus } from '../../src/access/types.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  description: 'List access requests (newest first)',
  examples: ['byoc access list --mine', 'byoc access list --reviewable', 'byoc access list --status approved --json'],
  options: {
    mine: option.boolean('--mine', 'access.mine', 'only requests you made'),
    reviewable: option.boolean('--reviewable', 'access.reviewable', 'only pending requests you can approve or deny'),
    status: option.choice('--status <status>', 'access.status', 'only requests in this status', STATUSES),
    service: option.string('--service <name>', 'access.service', 'only requests for this service'),
  },
  async run({ mine, reviewable, status, service }, ctx): Promise<{ requests: AccessRequest[] }> {
    if (mine && reviewable) throw new UsageError('conflicting_flags', '--mine and --reviewable exclude each other', { hint: 'Pick one.' });
    const broker = await ctx.client('broker');
    const requests = await broker.list({
      ...(mine ? { mine: true } : {}),
      ...(reviewable ? { reviewable: true } : {}),
      ...(status ? { status: status as RequestStatus } : {}),
      ...(service ? { service } : {}),
    });
    return { requests };
  },
  text: (result) => requestRows(result.requests),
  async view(result, render) {
    const { RequestListView } = await import('../../src/ui/views/access.js');
    return RequestListView({ requests: result.requests, now: render.now, color: render.color });
  },
});
