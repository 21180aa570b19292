import { defineCommand, option } from '../../src/command.js';
import { requestOutcome, requestText, requestView } from '../../src/access/present.js';

export default defineCommand({
  examples: ['byoc access wait r-0k3j9x2m1q --timeout 15m', 'byoc access wait r-0k3j9x2m1q --json'],
  args: { id: { description: 'request id', required: true } },
  options: { timeout: option.duration({ flag: '--timeout <duration>', key: 'access.timeout', env: 'BYOC_WAIT_TIMEOUT', default: '10m', description: 'give up after this long' }) },
  async run({ id, timeout }, ctx) {
    const broker = await ctx.client('broker');
    const { waitForDecision } = await import('../../src/access/wait.js');
    return waitForDecision(ctx, broker, await broker.get(id), timeout);
  },
  text: requestText,
  view: requestView,
  outcome: requestOutcome,
});
