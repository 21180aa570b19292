import path from 'node:path';
import type { AccessRequest } from '../access/types.js';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';

const HOW_TO_WRITE = 'Write it with: byoc access list --json > grants.json';

/**
 * The approved windows for `--grants`: `broker` asks this invocation's broker; anything else is a file (relative to
 * the working folder) holding what `byoc access list --json` prints (an array, or an object with `requests`).
 */
export async function loadGrants(ctx: Pick<Context, 'client' | 'cwd'>, source: string): Promise<AccessRequest[]> {
  if (source === 'broker') {
    try {
      return await (await ctx.client('broker')).list();
    } catch (error) {
      // the broker's URL, as configured, may carry credentials the audit must not print
      throw (await import('./mask.js')).maskError(error);
    }
  }
  const { readFile } = await import('node:fs/promises');
  let document: unknown;
  try {
    document = JSON.parse(await readFile(path.resolve(ctx.cwd, source), 'utf8'));
  } catch (error) {
    throw new ConfigError('grants_unreadable', `cannot read grants from ${source}: ${(error as Error).message}`, { hint: HOW_TO_WRITE });
  }
  const requests = Array.isArray(document) ? document : (document as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests)) throw new ConfigError('grants_invalid', `${source} is not the output of byoc access list --json`, { hint: HOW_TO_WRITE });
  return requests as AccessRequest[];
}
