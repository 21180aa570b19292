import { defineCommand, option } from '../../src/command.js';
import type { OperatorFormat } from '../../src/access/types.js';

export default defineCommand({
  examples: [
    'byoc access operator-config r-0k3j9x2m1q | clickhouse-client --multiquery',
    'byoc access operator-config r-0k3j9x2m1q --format xml > /etc/clickhouse-server/users.d/byoc_r_0k3j9x2m1q.xml',
    'byoc access operator-config r-0k3j9x2m1q --json | jq -r .action',
  ],
  args: { id: { description: 'request id (approved: create its user; revoked or expired: remove it)', required: true } },
  options: {
    format: option.choice({
      flag: '--format <format>', key: 'access.operatorFormat', env: 'BYOC_OPERATOR_FORMAT', choices: ['sql', 'xml'], default: 'sql',
      description: 'sql (current ClickHouse) or xml (users.d)',
    }),
  },
  async run({ id, format }, ctx) {
    return (await ctx.client('broker')).operatorConfig(id, format satisfies OperatorFormat);
  },
  // The content only, so it pipes straight into clickhouse-client or a users.d file.
  text: (result) => result.content,
});
