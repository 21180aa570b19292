import { access } from 'node:fs/promises';
import type { AccessRequest, ListFilter } from '../access/types.js';
import type { Context } from '../context.js';
import type { Candidate, CandidateSources } from './model.js';

/** How long a TAB may wait for the broker; past it the shell gets no request ids rather than a hang. */
const BROKER_BUDGET_MS = 1500;
const MAX_REQUESTS = 50;

/** Candidates from this invocation's configuration, state folder and broker. */
export function contextSources(ctx: Context, budgetMs = BROKER_BUDGET_MS): CandidateSources {
  return {
    async services() {
      const configuration = await ctx.config();
      return Object.keys(configuration.services())
        .sort()
        .map((value) => ({ value }));
    },
    async presets() {
      const { PRESETS } = await import('../clickhouse/presets.js');
      return PRESETS.map((preset) => ({ value: preset.name, description: preset.description }));
    },
    async requests(filters) {
      const configuration = await ctx.config();
      const factory = ctx.clients.broker;
      if (!factory) return [];
      // An embedded broker that was never used has nothing to offer, and a TAB must not create its folder.
      if (!configuration.get<string>('broker.url')) await access((await import('../access/broker.js')).brokerDir(ctx.stateDir()));
      // The budget is the person's real wait (not the command clock); the served broker's HTTP calls abort with it.
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(budgetMs)]);
      const expired = new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      expired.catch(() => undefined);
      const lookup = async () => {
        const broker = await factory({ ...ctx, signal });
        const lists = await Promise.all(filters.map((filter: ListFilter) => broker.list(filter)));
        return lists.flat();
      };
      const requests = await Promise.race([lookup(), expired]);
      return newestFirst(requests).slice(0, MAX_REQUESTS).map(describe);
    },
  };
}

function newestFirst(requests: readonly AccessRequest[]): AccessRequest[] {
  const byId = new Map(requests.map((request) => [request.id, request]));
  return [...byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

function describe(request: AccessRequest): Candidate {
  return { value: request.id, description: `${request.status} · ${request.service} · ${request.requester} · ${request.reason}` };
}
