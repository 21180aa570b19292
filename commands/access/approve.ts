import { defineCommand } from '../../src/command.js';
import { SHARED } from '../../src/options.js';
import { requestText, requestView } from '../../src/access/present.js';

export default defineCommand({
  examples: ['byoc access approve r-0k3j9x2m1q --comment "ok for INC-4821"'],
  args: { id: { description: 'request id', required: true } },
  options: { comment: SHARED.comment },
  async run({ id, comment }, ctx) {
    return (await ctx.client('broker')).approve(id, comment);
  },
  text: requestText,
  view: requestView,
});
