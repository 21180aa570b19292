import { defineCommand } from '../../../src/command.js';
import { tokenRows } from '../../../src/access/tokens.js';
import type { TokenInfo } from '../../../src/access/types.js';

export default defineCommand({
  examples: ['byoc broker token list', 'byoc broker token list --json | jq -r \'.tokens[] | select(.state == "active") | .id\''],
  async run(_options, ctx): Promise<{ tokens: TokenInfo[] }> {
    const { tokenAdmin } = await import('../../../src/access/tokens.js');
    return { tokens: await (await tokenAdmin(ctx)).listTokens() };
  },
  text: (result) => tokenRows(result.tokens),
  async view(result, render) {
    const { TokenListView } = await import('../../../src/ui/views/tokens.js');
    return TokenListView({ tokens: result.tokens, now: render.now, color: render.color });
  },
});
