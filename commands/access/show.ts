import { defineCommand } from '../../src/command.js';
import { requestText, requestView } from '../../src/access/present.js';

export default defineCommand({
  examples: ['byoc access show r-0k3j9x2m1q', 'byoc access show r-0k3j9x2m1q --json | jq .status'],
  args: { id: { description: 'request id', required: true } },
  async run({ id }, ctx) {
    return (await ctx.client('broker')).get(id);
  },
  text: requestText,
  view: requestView,
});
