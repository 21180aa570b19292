import { defineCommand, option } from '../../../src/command.js';

export default defineCommand({
  examples: [
    'byoc broker token create alice@vendor.example --ttl 30d',
    'byoc broker token create audit-bot --ttl 90d --group auditors --group team:db-oncall',
    'BYOC_TOKEN=$(byoc broker token create bob@vendor.example --ttl 8h)',
  ],
  args: { user: { description: 'the identity the token stands for', required: true } },
  options: {
    ttl: option.durationText({
      flag: '--ttl <duration>', key: 'token.ttl', env: 'BYOC_TOKEN_TTL', defaultNote: 'no expiry',
      description: 'how long the token is valid, from 1m to 365d (e.g. 30d)',
    }),
    group: option.list({
      flag: '--group <name>', key: 'token.groups', env: 'BYOC_TOKEN_GROUPS', default: [], defaultNote: 'none',
      description: 'a group the token carries (repeat, or comma-separated); the auditors group sees every request',
    }),
  },
  async run({ user, ttl, group }, ctx) {
    const { tokenAdmin } = await import('../../../src/access/tokens.js');
    const issued = await (await tokenAdmin(ctx)).createToken({ identity: user, ...(ttl ? { ttl } : {}), ...(group.length ? { groups: group } : {}) });
    const carries = issued.groups.length ? ` (groups: ${issued.groups.join(', ')})` : '';
    ctx.log.warn(`token ${issued.id} for ${issued.identity}${carries} is shown once; hand it over securely (the broker keeps only its hash)`);
    ctx.log.warn(
      issued.expiresAt
        ? `it expires at ${issued.expiresAt}; revoke it sooner with: byoc broker token revoke ${issued.id}`
        : `it never expires: prefer --ttl (e.g. --ttl 90d); revoke it when it is no longer needed: byoc broker token revoke ${issued.id}`,
    );
    // `identity`, as everywhere else for a person (`user` names a ClickHouse user in other documents); `user` is
    // its 0.1 name, kept as an alias until 0.3.
    return { ...issued, user: issued.identity };
  },
  text: (result) => result.token,
});
