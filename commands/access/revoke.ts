import { defineCommand, option } from '../../src/command.js';
import { requestText, requestView } from '../../src/access/present.js';

export default defineCommand({
  description: 'Revoke an access request before it expires (its requester or an approver)',
  examples: ['byoc access revoke r-0k3j9x2m1q --comment "incident closed"'],
  args: { id: { description: 'request id', required: true } },
  options: { comment: option.string('--comment <text>', 'access.comment', 'why, for the audit trail') },
  async run({ id, comment }, ctx) {
    return (await ctx.client('broker')).revoke(id, comment);
  },
  text: requestText,
  view: requestView,
});
