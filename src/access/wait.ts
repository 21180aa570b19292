import type { Context } from '../context.js';
import { formatCoarse } from '../util/duration.js';
import type { BrokerClient } from './client.js';
import type { AccessRequest } from './types.js';

const TICK_MS = 250;
const POLL_MS = 2000;

/**
 * Waits until a request is decided, lapses, or `timeoutMs` passes; returns the last state seen.
 * On a TTY an ink spinner on stderr shows how long it has been pending and when it lapses.
 */
export async function waitForDecision(ctx: Context, broker: BrokerClient, initial: AccessRequest, timeoutMs: number): Promise<AccessRequest> {
  let request = initial;
  if (request.status !== 'pending') return request;
  const started = ctx.clock.now().getTime();
  const progress = await startProgress(ctx, () => {
    const now = ctx.clock.now();
    const pendingFor = formatCoarse(now.getTime() - Date.parse(request.createdAt));
    const lapsesIn = formatCoarse(Math.max(0, Date.parse(request.pendingUntil) - now.getTime()));
    return `waiting for approval of ${request.id} · pending ${pendingFor} · lapses in ${lapsesIn}`;
  });
  try {
    let sincePoll = 0;
    while (request.status === 'pending') {
      if (ctx.clock.now().getTime() - started >= timeoutMs) break;
      await ctx.clock.sleep(TICK_MS, ctx.signal);
      sincePoll += TICK_MS;
      progress.update();
      if (sincePoll >= POLL_MS) {
        sincePoll = 0;
        request = await broker.get(request.id);
      }
    }
    return request;
  } finally {
    progress.stop();
  }
}

interface Progress {
  update(): void;
  stop(): void;
}

async function startProgress(ctx: Context, label: () => string): Promise<Progress> {
  // Like every spinner: only for a person watching stderr, never on a pipe or with --json.
  if (!ctx.output.stderrIsTTY || ctx.output.json) {
    ctx.log.info(`${label()} (Ctrl-C to stop waiting; the request stays open)`);
    return { update: () => undefined, stop: () => undefined };
  }
  const { renderSpinner } = await import('../ui/spinner.js');
  return renderSpinner(ctx.io.stderr, label, ctx.output.color);
}
