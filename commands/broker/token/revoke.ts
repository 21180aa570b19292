import { defineCommand } from '../../../src/command.js';

export default defineCommand({
  examples: ['byoc broker token revoke t-0k3j9x2m1q7a', 'byoc broker token revoke t-0k3j9x2m1q7a --json'],
  args: { id: { description: 'token id (byoc broker token list)', required: true } },
  async run({ id }, ctx) {
    const { tokenAdmin } = await import('../../../src/access/tokens.js');
    return (await tokenAdmin(ctx)).revokeToken(id);
  },
  text: (result) => `revoked ${result.id} (${result.identity}); the broker refuses it from now on`,
});
