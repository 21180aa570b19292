/**
 * What both broker stores (the JSONL log, PostgreSQL) do the same way: reads, commits and rewinds of one store take
 * turns (two catch-ups from the same position would apply events twice), and transactions queued while a commit is
 * under way are committed together as the next batch (group commit: one lock, one write, one flush for all).
 */
import type { BrokerEvent } from './store.js';

export interface Transaction {
  decide: () => { events: BrokerEvent[]; result: unknown };
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class Turns {
  private turn: Promise<unknown> = Promise.resolve();
  private pending: Transaction[] = [];
  private flushing = false;

  /**
   * @param commit commits one batch in its turn, settling each of its transactions
   * @param broken why the store refuses every commit now (a write failed halfway), if it does
   */
  constructor(
    private readonly commit: (batch: Transaction[]) => Promise<void>,
    private readonly broken: () => Error | undefined,
  ) {}

  /** Runs `fn` once every read and commit queued before it is done. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Queues a transaction; it is decided and committed with the next batch. */
  transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ decide, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        await this.run(async () => {
          const refusal = this.broken();
          if (refusal) for (const transaction of batch) transaction.reject(refusal);
          else await this.commit(batch);
        });
      }
    } finally {
      this.flushing = false;
    }
  }
}
