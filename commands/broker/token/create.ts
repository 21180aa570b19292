import { defineCommand } from '../../../src/command.js';

export default defineCommand({
  examples: ['byoc broker token create alice@vendor.example', 'BYOC_TOKEN=$(byoc broker token create bob@vendor.example)'],
  args: { user: { description: 'the identity the token stands for', required: true } },
  async run({ user }, ctx) {
    const { openBroker } = await import('../../../src/access/open.js');
    const broker = await openBroker(ctx, await ctx.config());
    const token = await broker.createToken(user);
    ctx.log.warn(`this token for ${user} is shown once; hand it over securely (the broker keeps only its hash)`);
    // `identity`, as everywhere else for a person (`user` names a ClickHouse user in other documents); `user` is
    // its 0.1 name, kept as an alias until 0.3.
    return { identity: user, user, token };
  },
  text: (result) => result.token,
});
