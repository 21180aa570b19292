import { defineCommand, option } from '../../src/command.js';
import type { OperatorFormat } from '../../src/access/types.js';

export default defineCommand({
  description: "What the customer's ClickHouse needs to accept the engineer's certificate (read-only, system tables)",
  examples: ['byoc access operator-config r-0k3j9x2m1q | clickhouse-client --multiquery', 'byoc access operator-config r-0k3j9x2m1q --format xml > users.d/byoc.xml'],
  args: { id: { description: 'an approved request id', required: true } },
  options: { format: option.choice('--format <format>', 'access.operatorFormat', 'sql or xml (users.d)', ['sql', 'xml'] as const) },
  async run({ id, format }, ctx) {
    return (await ctx.client('broker')).operatorConfig(id, (format ?? 'sql') as OperatorFormat);
  },
  text: (result) => result.content,
});
