/** What one attempt to deliver came to. */
/** `retryAfterMs`: how long the receiver asked to be left alone (a 429's or 503's Retry-After). */
export type AttemptResult = { ok: true; detail: string } | { ok: false; retry: boolean; problem: string; retryAfterMs?: number };

/**
 * The longest Retry-After honoured: Slack asks for seconds to a minute; a receiver asking for hours would hold a
 * delivery (and the queue's room) that long, so beyond this the usual backoff applies.
 */
const RETRY_AFTER_CAP_MS = 5 * 60_000;

export interface Delivery {
  /** how the log names it: `approved r-0k3j9x2m1q to oncall` */
  label: string;
  attempt(signal: AbortSignal): Promise<AttemptResult>;
}

export interface QueueOptions {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** milliseconds, from the same clock as sleep */
  now: () => number;
  log: { verbose(message: string): void; warn(message: string): void };
  random?: () => number;
  /** attempts per delivery, the first included */
  maxAttempts?: number;
  /** the wait before the second attempt; each later one doubles it, up to maxDelayMs */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** deliveries not yet done (in flight or waiting for a retry); more are dropped with a warning */
  maxQueued?: number;
  /** attempts in flight at once */
  concurrency?: number;
  /** no attempt starts later than this after the delivery was queued (the embedded broker's bounded wait) */
  deadlineMs?: number;
}

const DELIVERY_DEFAULTS = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000, maxQueued: 1000, concurrency: 4 } as const;

/**
 * The deliveries of one process, in memory: each runs on its own (a slow or dead receiver holds up no other one
 * and never the decision that raised it), with bounded attempts and exponential backoff with jitter between them.
 * Written here rather than taken from a job-queue library: those persist to Redis or a database, and what is
 * needed is forty lines around a loop. Deliveries are at most once: what is still queued when the process ends
 * is lost (and said so).
 */
export class DeliveryQueue {
  private readonly options: Required<Omit<QueueOptions, 'deadlineMs'>> & Pick<QueueOptions, 'deadlineMs'>;
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: QueueOptions) {
    this.options = { random: Math.random, ...DELIVERY_DEFAULTS, ...options };
  }

  /** Deliveries not yet done. */
  get size(): number {
    return this.running.size;
  }

  /** Starts a delivery; false (and a warning) when the queue is full or stopped. */
  enqueue(delivery: Delivery): boolean {
    if (this.stopping.signal.aborted) {
      this.options.log.warn(`notify: not delivering ${delivery.label}: the broker is stopping`);
      return false;
    }
    if (this.running.size >= this.options.maxQueued) {
      this.options.log.warn(`notify: dropped ${delivery.label}: ${this.options.maxQueued} deliveries are already waiting (a receiver is down or slow)`);
      return false;
    }
    const run = this.deliver(delivery).finally(() => this.running.delete(run));
    this.running.add(run);
    return true;
  }

  /** Waits until every delivery is done, at most `timeoutMs`; true when none is left. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return true;
    const timer = new AbortController();
    const idle = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    })();
    await Promise.race([idle, this.options.sleep(timeoutMs, timer.signal).catch(() => undefined)]);
    timer.abort();
    return this.running.size === 0;
  }

  /** Gives up what is still waiting (logged) and lets the process end. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.running]);
  }

  private async deliver(delivery: Delivery): Promise<void> {
    const { maxAttempts, log } = this.options;
    const queuedAt = this.options.now();
    const signal = this.stopping.signal;
    for (let attempt = 1; ; attempt++) {
      const result = await this.slot(() => delivery.attempt(signal)).catch((error: unknown): AttemptResult => ({ ok: false, retry: true, problem: (error as Error).message }));
      if (result.ok) {
        log.verbose(`notify: delivered ${delivery.label} (attempt ${attempt}: ${result.detail})`);
        return;
      }
      const last = !result.retry || attempt >= maxAttempts;
      // never sooner than the receiver asked (within the cap): retrying earlier only earns another 429
      const asked = !result.ok && result.retryAfterMs !== undefined && result.retryAfterMs <= RETRY_AFTER_CAP_MS ? result.retryAfterMs : 0;
      const delay = Math.max(this.backoff(attempt), asked);
      const pastDeadline = this.options.deadlineMs !== undefined && this.options.now() + delay - queuedAt > this.options.deadlineMs;
      if (last || pastDeadline || signal.aborted) {
        const why = !result.retry
          ? 'not retried: the receiver refused it'
          : signal.aborted
            ? 'the broker is stopping'
            : pastDeadline
              ? `this command does not wait longer than ${Math.round(this.options.deadlineMs! / 1000)}s for notifications`
              : `after ${attempt} attempts`;
        log.warn(`notify: gave up delivering ${delivery.label} (${why}): ${result.problem}`);
        return;
      }
      log.warn(`notify: delivering ${delivery.label} failed (attempt ${attempt} of ${maxAttempts}: ${result.problem}); retrying in ${(delay / 1000).toFixed(1)}s`);
      try {
        await this.options.sleep(delay, signal);
      } catch {
        log.warn(`notify: gave up delivering ${delivery.label} (the broker is stopping): ${result.problem}`);
        return;
      }
    }
  }

  /** Exponential backoff with equal jitter: half the step for sure, half at random, so retries of many deliveries spread out. */
  private backoff(attempt: number): number {
    const step = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(step / 2 + this.options.random() * (step / 2));
  }

  private async slot<T>(work: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.options.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await work();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}
