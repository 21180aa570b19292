import type { Clock } from '../../src/context.js';

/**
 * A clock whose sleeps end only when a test moves time past them (FakeClock's end at once): for sessions that wait
 * on timers while other work goes on, like a shell's grant watch.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: { until: number; wake: () => void }[] = [];

  constructor(start = new Date('2026-11-21T10:00:00.000Z')) {
    this.current = start.getTime();
  }

  now = (): Date => new Date(this.current);

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      const sleeper = {
        until: this.current + ms,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((entry) => entry !== sleeper);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });

  /** How many sleeps are waiting (a test waits for its subject to start sleeping before moving time). */
  get waiting(): number {
    return this.sleepers.length;
  }

  /** Moves time on, waking every sleep that ends by then, and lets the woken work run before it returns. */
  async advance(ms: number): Promise<void> {
    this.current += ms;
    const due = this.sleepers.filter((entry) => entry.until <= this.current);
    this.sleepers = this.sleepers.filter((entry) => entry.until > this.current);
    for (const entry of due) entry.wake();
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  }
}
