import { defineCommand, option } from '../../src/command.js';
import { requestRows } from '../../src/access/present.js';
import { STATUSES, type AccessRequest } from '../../src/access/types.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  examples: ['byoc access list --mine', 'byoc access list --reviewable', 'byoc access list --status approved --json'],
  options: {
    mine: option.boolean({ flag: '--mine', key: 'access.mine', env: 'BYOC_MINE', default: false, description: 'only requests you made' }),
    reviewable: option.boolean({ flag: '--reviewable', key: 'access.reviewable', env: 'BYOC_REVIEWABLE', default: false, description: 'only pending requests you can approve or deny' }),
    status: option.choice({ flag: '--status <status>', key: 'access.status', env: 'BYOC_STATUS', choices: STATUSES, description: 'only requests in this status' }),
    service: option.string({ flag: '--service <name>', key: 'access.service', env: 'BYOC_SERVICE', description: 'only requests for this service' }),
  },
  async run({ mine, reviewable, status, service }, ctx): Promise<{ requests: AccessRequest[] }> {
    if (mine && reviewable) throw new UsageError('conflicting_flags', '--mine and --reviewable exclude each other', { hint: 'Pick one.' });
    const broker = await ctx.client('broker');
    const requests = await broker.list({
      ...(mine ? { mine: true } : {}),
      ...(reviewable ? { reviewable: true } : {}),
      ...(status ? { status: status } : {}),
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
