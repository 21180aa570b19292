import type { Context } from '../context.js';
import { formatCoarse } from '../util/duration.js';
import type { BrokerClient } from './client.js';
import { MAX_WAIT_SECONDS, type AccessRequest } from './types.js';

const TICK_MS = 250;
/** How often a waiter asks a broker that can neither say when it changed nor hold its answer (an older served one). */
const POLL_MS = 2000;
/**
 * The least a waiter that is told of changes sleeps between reads when nothing changes: the request still lapses
 * on its own at pendingUntil, which no write announces, so the waiter looks again then (never sooner than this,
 * in case the broker's clock is a little behind ours).
 */
const LAPSE_RECHECK_MS = 1000;

/**
 * Waits until a request is decided, lapses, or `timeoutMs` passes; returns the last state seen. A broker that says
 * when its store changed (the embedded one: the event log's growth) is read again only then, or when the request
 * lapses; a served one holds its answer until the request changes (awaitChange, a long-poll).
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
  // A strict fake or an HTTP client has no `changed`: the `in` check never calls into it.
  const changed = 'changed' in broker && typeof broker.changed === 'function' ? broker.changed.bind(broker) : undefined;
  const awaitChange = 'awaitChange' in broker && typeof broker.awaitChange === 'function' ? broker.awaitChange.bind(broker) : undefined;
  const done = new AbortController();
  const ticking = progress.live ? tick(ctx, progress, done.signal) : Promise.resolve();
  try {
    while (request.status === 'pending') {
      const now = ctx.clock.now().getTime();
      const left = started + timeoutMs - now;
      if (left <= 0) break;
      if (awaitChange && left >= 1000) {
        // the served broker holds its answer until something happens (Ctrl-C aborts the call through ctx.signal)
        request = await awaitChange(request.id, Math.min(left, MAX_WAIT_SECONDS * 1000) / 1000);
        // a broker that answered at once with nothing new does not hold answers (one from before long-polls)
        if (request.status === 'pending' && ctx.clock.now().getTime() - now < LAPSE_RECHECK_MS) await ctx.clock.sleep(Math.min(POLL_MS, left), ctx.signal);
        continue;
      }
      if (changed) await untilChanged(ctx, changed, Math.min(left, Math.max(LAPSE_RECHECK_MS, Date.parse(request.pendingUntil) - now)));
      else await ctx.clock.sleep(Math.min(POLL_MS, left), ctx.signal);
      request = await broker.get(request.id);
    }
    return request;
  } finally {
    done.abort();
    await ticking;
    progress.stop();
  }
}

/** Resolves when the broker changed or `ms` passed, whichever is first; rejects when the command is interrupted. */
async function untilChanged(ctx: Context, changed: (signal: AbortSignal) => Promise<void>, ms: number): Promise<void> {
  const round = new AbortController();
  const stop = () => round.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    ctx.signal.throwIfAborted();
    await Promise.race([changed(round.signal), ctx.clock.sleep(ms, round.signal)]);
    // a store's changed() resolves (not rejects) when aborted: Ctrl-C must still stop the wait
    ctx.signal.throwIfAborted();
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    // the loser of the race stops too (its watcher closed, its timer cleared); its rejection is nobody's business
    round.abort();
  }
}

/** Keeps a person's spinner current while the waiter sleeps on the broker. */
async function tick(ctx: Context, progress: Progress, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await ctx.clock.sleep(TICK_MS, signal).catch(() => undefined);
    if (!signal.aborted) progress.update();
  }
}

interface Progress {
  /** a spinner a person watches (worth ticking) */
  live: boolean;
  update(): void;
  stop(): void;
}

async function startProgress(ctx: Context, label: () => string): Promise<Progress> {
  // Like every spinner: only for a person watching stderr, never on a pipe or with --json.
  if (!ctx.output.stderrIsTTY || ctx.output.json) {
    ctx.log.info(`${label()} (Ctrl-C to stop waiting; the request stays open)`);
    return { live: false, update: () => undefined, stop: () => undefined };
  }
  const { renderSpinner } = await import('../ui/spinner.js');
  return { live: true, ...renderSpinner(ctx.io.stderr, label, ctx.output.color) };
}
