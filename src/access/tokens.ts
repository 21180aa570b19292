import type { Context } from '../context.js';
import { tsv } from '../command.js';
import type { BrokerClient } from './client.js';
import type { TokenInfo } from './types.js';

type TokenAdmin = Pick<BrokerClient, 'createToken' | 'listTokens' | 'revokeToken'>;

/**
 * Where `byoc broker token` acts. With broker.url set: the served broker's API, as the signed-in identity, which
 * must be one of the broker's `broker.admins` (anybody else is refused, 403). Without it: the broker store in this
 * machine's state folder, whose owner is the broker's operator (no admin list applies; `user`, when set, is
 * recorded as the creator or revoker). While a broker serves that store, embedded writes are refused
 * (broker_served, naming its URL): use the served API then.
 */
export async function tokenAdmin(ctx: Context): Promise<TokenAdmin> {
  const configuration = await ctx.config();
  if (configuration.get<string>('broker.url')) return ctx.client('broker');
  const { openBroker } = await import('./open.js');
  const broker = await openBroker(ctx, configuration);
  const by = configuration.get<string>('user');
  return {
    createToken: (input) => broker.issueToken(by, input),
    listTokens: () => broker.listTokens(),
    revokeToken: (id) => broker.revokeToken(by, id),
  };
}

/** One token a line, for pipes: id, identity, groups, created, last used, expires, state (`-` for none). */
export function tokenRows(tokens: readonly TokenInfo[]): string {
  return tsv(tokens.map((token) => [token.id, token.identity, token.groups.join(',') || '-', token.createdAt, token.lastUsedAt ?? '-', token.expiresAt ?? 'never', token.state]));
}
