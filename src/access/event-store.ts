/**
 * The broker's store, whatever holds it: the JSONL event log in a folder (store.ts, EventLog: the default, for one
 * person and the sandbox) or PostgreSQL (postgres/store.ts, several broker replicas on one database). The broker
 * (broker.ts) rebuilds its state from the events a store replays into `apply` and decides through `transact`; it
 * never knows which store it has.
 */
import type { StoredRecord } from './chain.js';
import type { BrokerEvent, LogPosition } from './store.js';

type Decide<T> = () => { events: BrokerEvent[]; result: T };

export interface EventStore {
  /** Whether open() installed a snapshot's state (then only the events after it were replayed). */
  readonly resumed: boolean;
  /**
   * Whether the broker keeps a snapshot of this store beside it (the JSONL log: a long log replays slowly). A store
   * that answers its own queries (PostgreSQL) says false and is always replayed in full.
   */
  readonly snapshots: boolean;
  /**
   * Runs `decide` on the current state (every event any writer committed before applied first) and commits the
   * events it returns, all or nothing; serialised across processes and replicas. Nothing is acknowledged before the
   * events are durable.
   */
  transact<T>(decide: Decide<T>): Promise<T>;
  /** Applies what other writers committed since the last read. */
  refresh(): Promise<void>;
  /** Replays everything again after `reset()` empties the state, with no commit or read in between. */
  rewind(reset: () => void): Promise<void>;
  /** The events up to the current position whose stored text contains `needle` (one request's, by its id). */
  scan(needle: string): Promise<BrokerEvent[]>;
  /** Where this store has read to (what a snapshot of the state applied so far covers). */
  position(): LogPosition;
  /** Runs `fn` with the position when no commit or read is under way; refused once a commit failed halfway. */
  atRest<T>(fn: (position: LogPosition) => T): Promise<T>;
  /** The stored texts in store order, as the hash chain covers them (`byoc broker verify`, migration). */
  records(): AsyncIterable<StoredRecord>;
  /**
   * Resolves when another writer may have committed since this store last read (a NOTIFY, the file's growth), or
   * when `signal` aborts: what waiters sleep on instead of polling. Callers refresh() after it and check again.
   */
  changed(signal?: AbortSignal): Promise<void>;
  /**
   * Of `keys` (notices the timer would send: `expiring-soon:<id>`), the ones no writer of this store claimed
   * before, now claimed by this one: with several replicas on one store, each notice goes out once. Absent (the
   * JSONL store, which has one writer while served): the notifier remembers them itself.
   */
  claimOnce?(keys: readonly string[], at: Date): Promise<Set<string>>;
  /** Tells embedded commands which URL serves this store (JSONL: they cannot write while it is served). */
  announce(url: string): Promise<void>;
  /** Lets go of what the store holds (a lock, connections). */
  close(): Promise<void>;
}

/**
 * Opens a store, replaying its events into `apply` (from a snapshot's state when `resume` fits the store). `reset`
 * empties that state: a store whose commit failed after its events were applied (PostgreSQL: a rolled-back
 * transaction) rebuilds it from what the store really holds instead of refusing everything until a restart.
 */
export type OpenEventStore = (
  apply: (event: BrokerEvent) => void,
  resume?: { position: LogPosition; load: () => void },
  reset?: () => void,
) => Promise<EventStore>;
