import { defineCommand, option } from '../../src/command.js';
import { requestText, requestView } from '../../src/access/present.js';

export default defineCommand({
  description: 'Approve an access request (designated approvers only; never your own)',
  examples: ['byoc access approve r-0k3j9x2m1q --comment "ok for INC-4821"'],
  args: { id: { description: 'request id', required: true } },
  options: { comment: option.string('--comment <text>', 'access.comment', 'a note for the requester and the audit trail') },
  async run({ id, comment }, ctx) {
    return (await ctx.client('broker')).approve(id, comment);
  },
  text: requestText,
  view: requestView,
});
