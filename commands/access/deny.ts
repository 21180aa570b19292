import { defineCommand } from '../../src/command.js';
import { SHARED } from '../../src/options.js';
import { requestText, requestView } from '../../src/access/present.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  examples: ['byoc access deny r-0k3j9x2m1q --comment "use the read replica runbook first"'],
  args: { id: { description: 'request id', required: true } },
  options: { comment: SHARED.comment },
  async run({ id, comment }, ctx) {
    if (!comment?.trim()) throw new UsageError('comment_required', 'a denial needs a comment', { hint: 'Tell the requester why: --comment "..."' });
    return (await ctx.client('broker')).deny(id, comment);
  },
  text: requestText,
  view: requestView,
});
