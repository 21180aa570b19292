/**
 * The broker's store in PostgreSQL: several broker replicas on one database, one source of truth. Events are rows
 * of byoc_events (seq 1, 2, ... in commit order), each the exact chained text of src/access/chain.ts; byoc_head
 * names the last one and its hash. A commit locks the head row (SELECT ... FOR UPDATE), so commits are serialised
 * across every replica: it reads the rows other replicas committed since this one last read, decides on that
 * current state, inserts its chained rows, moves the head, NOTIFYs, and commits; nothing is acknowledged before
 * COMMIT returns. Other replicas LISTEN, so waiters wake when anybody commits, and every read first catches up
 * (one indexed query), so a replica never answers from a state older than a decision another acknowledged.
 *
 * Transactions queued while one is in flight are committed together (one database transaction), each deciding on
 * the state the ones before it produced, as the JSONL store does.
 */
import pg from 'pg';
import { RemoteError } from '../../errors.js';
import { chainedText, GENESIS, recordHash, unchained, type StoredRecord } from '../chain.js';
import type { EventStore } from '../event-store.js';
import { eventProblem } from '../records.js';
import type { BrokerEvent, LogPosition } from '../store.js';
import { checkSchema } from './migrations.js';
import { connectionConfig, redact, storeFailure as unreachable } from './connection.js';
import { Turns, type Transaction } from '../turns.js';

const CHANNEL = 'byoc_events';
/** How long a waiter sleeps when the LISTEN connection is down (the fallback; a NOTIFY normally wakes it at once). */
const FALLBACK_WAIT_MS = 1000;


export interface PostgresStoreOptions {
  /** postgres://user@host:port/database (a password in it is taken, but belongs in the environment or a file) */
  url: string;
  password?: string;
  warn: (message: string) => void;
  /** connections in the pool (commits use one at a time; reads and the CA the others) */
  poolSize?: number;
}

/** The CA as the store keeps it. */
export interface StoredCa {
  certPem: string;
  keyPem: string;
}

/** How long a claimed notice is remembered: longer than any timer could raise it again (the notifier's catch-up window is an hour). */
const NOTICE_MEMORY_MS = 2 * 60 * 60_000;

export class PostgresStore implements EventStore {
  readonly resumed = false;
  readonly snapshots = false;
  /** the last row applied, and the hash of its text (the next row's `prev`) */
  private seq = 0;
  private hash = GENESIS;
  private apply: (event: BrokerEvent) => void = () => undefined;
  /** empties the applied state, for a rebuild after a commit that failed once its events were applied */
  private reset: (() => void) | undefined;
  /** a commit failed after applying its events: memory must be rebuilt from the database before anything else */
  private stale = false;
  private broken: Error | undefined;
  /** reads, commits and rewinds one at a time; transactions committed in batches (turns.ts) */
  private readonly turns = new Turns((batch) => this.commit(batch), () => this.broken);
  private listener: pg.Client | undefined;
  /** the highest seq a NOTIFY announced */
  private announced = 0;
  private waiters = new Set<() => void>();
  private closed = false;
  private catching = false;
  private queuedRefresh: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
    private readonly options: PostgresStoreOptions,
  ) {}

  /** Connects and checks the schema (refusing one not migrated, or newer than this byoc knows); replays nothing yet. */
  static async connect(options: PostgresStoreOptions): Promise<PostgresStore> {
    // allowExitOnIdle: an embedded command (no close() at its end) exits once its queries are done; a served broker
    // is kept alive by its HTTP server, not by its database connections.
    const pool = new pg.Pool({ ...connectionConfig(options.url, options.password), max: options.poolSize ?? 4, allowExitOnIdle: true });
    // An idle connection the server drops must not crash the process: the next query reconnects.
    pool.on('error', (error) => options.warn(`broker store connection lost: ${error.message}`));
    const store = new PostgresStore(pool, redact(options.url), options);
    try {
      await checkSchema(pool, store.where);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw unreachable(error, store.where);
    }
    return store;
  }

  /** Replays every event into `apply` and starts listening for other replicas' commits. */
  async open(apply: (event: BrokerEvent) => void, reset?: () => void): Promise<this> {
    this.apply = apply;
    if (reset) this.reset = reset;
    try {
      // Listening before the first read: a commit between the two is then not missed by a waiter.
      await this.listen();
      await this.catchUp(this.pool);
    } catch (error) {
      await this.close();
      throw unreachable(error, this.where);
    }
    return this;
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(connectionConfig(this.options.url, this.options.password));
    client.on('notification', (message) => {
      const seq = Number(message.payload);
      if (Number.isSafeInteger(seq) && seq > this.announced) this.announced = seq;
      this.catchUpSoon();
      this.wake();
    });
    client.on('error', (error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.warn(`broker store: the LISTEN connection failed (${error.message}); reconnecting, waiters poll every ${FALLBACK_WAIT_MS} ms meanwhile`);
      this.wake();
      this.relisten();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    // Listening never keeps the process alive by itself (pg has no option for it; its socket is unref'd instead).
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    this.listener = client;
  }

  /**
   * Listens again after the LISTEN connection was lost, every second until it works, then catches up with what was
   * announced meanwhile (and missed): without it, a revocation through another replica would wait for this one's
   * next read.
   */
  private relisten(): void {
    const timer = setTimeout(() => {
      if (this.closed || this.listener) return;
      this.listen()
        .then(() => this.turns.run(() => this.catchUp(this.pool)))
        .catch(() => this.relisten());
    }, FALLBACK_WAIT_MS);
    timer.unref();
  }

  /**
   * Applies another replica's commit as soon as it is announced, not only at this replica's next read: a token
   * revoked through one replica is refused by every other within the NOTIFY's latency (a served broker checks a
   * known token from memory).
   */
  private catchUpSoon(): void {
    if (this.catching || this.closed || this.announced <= this.seq) return;
    this.catching = true;
    void this.turns.run(() => this.catchUp(this.pool))
      .catch((error: unknown) => this.options.warn(`broker store: catching up failed: ${(error as Error).message}`))
      .finally(() => {
        this.catching = false;
        this.catchUpSoon();
      });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  position(): LogPosition {
    return { offset: this.seq, lines: this.seq, lastLineLength: 0, lastLineHash: this.hash };
  }

  /**
   * Catches up. Callers arriving while a catch-up is queued and not yet started share it: it starts after each of
   * them called, so it still reads everything committed before any of them asked (a served replica answering many
   * reads at once makes one query for all of them, not one each in turn).
   */
  refresh(): Promise<void> {
    if (this.queuedRefresh) return this.queuedRefresh;
    const queued: Promise<void> = this.turns.run(async () => {
      if (this.queuedRefresh === queued) this.queuedRefresh = undefined;
      await this.catchUp(this.pool);
    });
    this.queuedRefresh = queued;
    return queued;
  }

  rewind(reset: () => void): Promise<void> {
    return this.turns.run(async () => {
      reset();
      this.seq = 0;
      this.hash = GENESIS;
      await this.catchUp(this.pool);
    });
  }

  scan(needle: string): Promise<BrokerEvent[]> {
    return this.turns.run(async () => {
      const { rows } = await this.pool.query<{ seq: string; text: string }>('SELECT seq, text FROM byoc_events WHERE seq <= $1 AND strpos(text, $2) > 0 ORDER BY seq', [this.seq, needle]);
      return rows.map((row) => this.parse(row.text, row.seq));
    });
  }

  atRest<T>(fn: (position: LogPosition) => T): Promise<T> {
    return this.turns.run(async () => {
      if (this.broken) throw this.broken;
      if (this.stale) await this.catchUp(this.pool);
      return fn(this.position());
    });
  }

  async *records(): AsyncIterable<StoredRecord> {
    // In pages by seq: a store of millions of events is never held in memory at once.
    for (let after = 0; ; ) {
      const { rows } = await this.pool.query<{ seq: string; text: string }>('SELECT seq, text FROM byoc_events WHERE seq > $1 ORDER BY seq LIMIT 1000', [after]);
      if (rows.length === 0) return;
      for (const row of rows) yield { where: `row ${row.seq}`, text: row.text };
      after = Number(rows.at(-1)!.seq);
    }
  }

  changed(signal?: AbortSignal): Promise<void> {
    if (this.announced > this.seq || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      // Without a LISTEN connection (lost), a bounded poll; with one, a NOTIFY wakes it (the timer only in case).
      const timer = setTimeout(done, this.listener ? 5000 : FALLBACK_WAIT_MS);
    });
  }

  async announce(): Promise<void> {
    // Replicas share the database: nobody is refused while one serves, so there is nothing to announce.
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // whatever was queued before closing finishes first
    await this.turns.run(async () => undefined);
    const listener = this.listener;
    this.listener = undefined;
    this.wake();
    await listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  /** The CA in the store, or the one `create` makes stored now: exactly once, whichever replica gets there first. */
  /** One row per notice, inserted by whichever replica's timer gets there first; kept two hours, then forgotten. */
  async claimOnce(keys: readonly string[], at: Date): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    await this.pool.query('DELETE FROM byoc_notices WHERE claimed_at < $1', [new Date(at.getTime() - NOTICE_MEMORY_MS)]);
    const { rows } = await this.pool.query<{ key: string }>('INSERT INTO byoc_notices (key, claimed_at) SELECT unnest($1::text[]), $2 ON CONFLICT (key) DO NOTHING RETURNING key', [keys, at]);
    return new Set(rows.map((row) => row.key));
  }

  async loadOrCreateCa(create: () => Promise<StoredCa>): Promise<StoredCa> {
    const load = async () => (await this.pool.query<{ cert_pem: string; key_pem: string }>('SELECT cert_pem, key_pem FROM byoc_ca WHERE id = 1')).rows[0];
    let row = await load();
    if (!row) {
      const made = await create();
      // Two replicas starting together both make one; the primary key lets one in, and both use that one.
      await this.pool.query('INSERT INTO byoc_ca (id, cert_pem, key_pem) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [made.certPem, made.keyPem]);
      row = await load();
    }
    if (!row) throw new Error('the CA row vanished');
    return { certPem: row.cert_pem, keyPem: row.key_pem };
  }

  /** Stores a CA copied from elsewhere (migration); false when the store has one already. */
  async importCa(ca: StoredCa): Promise<boolean> {
    const { rowCount } = await this.pool.query('INSERT INTO byoc_ca (id, cert_pem, key_pem) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [ca.certPem, ca.keyPem]);
    return rowCount === 1;
  }

  /**
   * Appends stored texts verbatim, in one transaction, checking that they continue the store's chain (migration:
   * a JSONL log copied as it is, so the copy's chain is the original's). Only into an empty store.
   */
  async importRecords(texts: AsyncIterable<string>): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const head = (await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM byoc_head WHERE id = 1 FOR UPDATE')).rows[0]!;
      if (Number(head.seq) !== 0) throw new Error(`the store already holds ${head.seq} events`);
      let seq = 0;
      let hash = GENESIS;
      let batch: { seqs: number[]; texts: string[] } = { seqs: [], texts: [] };
      const flush = async () => {
        if (batch.seqs.length === 0) return;
        await client.query('INSERT INTO byoc_events (seq, text) SELECT * FROM unnest($1::bigint[], $2::text[])', [batch.seqs, batch.texts]);
        batch = { seqs: [], texts: [] };
      };
      for await (const text of texts) {
        seq++;
        this.parse(text, String(seq));
        batch.seqs.push(seq);
        batch.texts.push(text);
        hash = recordHash(text);
        if (batch.seqs.length >= 1000) await flush();
      }
      await flush();
      await client.query('UPDATE byoc_head SET seq = $1, hash = $2 WHERE id = 1', [seq, hash]);
      await client.query(`SELECT pg_notify('${CHANNEL}', $1)`, [String(seq)]);
      await client.query('COMMIT');
      return seq;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    return this.turns.transact(decide);
  }

  private async commit(batch: Transaction[]): Promise<void> {
    const settled: (() => void)[] = [];
    let client: pg.PoolClient | undefined;
    let applied = false;
    try {
      client = await this.pool.connect();
      // The head row's lock serialises every replica's commits until COMMIT. BEGIN and the lock go in one round trip
      // (no parameters: the simple protocol takes both). The catch-up is a statement of its own, after the lock: in
      // READ COMMITTED, only a statement started once the lock is granted sees the rows its previous holder added.
      const began = (await client.query('BEGIN; SELECT seq, hash FROM byoc_head WHERE id = 1 FOR UPDATE')) as unknown as pg.QueryResult<{ seq: string; hash: string }>[];
      const head = began[1]?.rows[0];
      if (!head) throw new Error('byoc_head has no row');
      await this.catchUp(client);
      if (Number(head.seq) !== this.seq || head.hash !== this.hash) {
        throw this.corrupt(`the head (row ${head.seq}) is not the last row read (row ${this.seq})`);
      }
      const decided: { transaction: Transaction; result: unknown }[] = [];
      const seqs: number[] = [];
      const texts: string[] = [];
      const serials: { serial: string; id: string; seq: number }[] = [];
      let seq = this.seq;
      let hash = this.hash;
      for (const transaction of batch) {
        try {
          const { events, result } = transaction.decide();
          for (const event of events) {
            applied = true;
            this.apply(event);
            const text = chainedText(event, hash);
            seq++;
            hash = recordHash(text);
            seqs.push(seq);
            texts.push(text);
            if (event.type === 'certificate.issued') serials.push({ serial: event.serial, id: event.id, seq });
          }
          decided.push({ transaction, result });
        } catch (error) {
          settled.push(() => transaction.reject(error));
        }
      }
      if (seqs.length > 0) {
        // One statement, one round trip: the rows, the serials (UNIQUE: the backstop), the head, the NOTIFY (sent
        // at COMMIT, never for a transaction rolled back).
        await client.query(
          `WITH events AS (INSERT INTO byoc_events (seq, text) SELECT * FROM unnest($1::bigint[], $2::text[])),
                serials AS (INSERT INTO byoc_certificates (serial, request_id, seq) SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[])),
                head AS (UPDATE byoc_head SET seq = $6, hash = $7 WHERE id = 1)
           SELECT pg_notify('${CHANNEL}', $8)`,
          [seqs, texts, serials.map((s) => s.serial), serials.map((s) => s.id), serials.map((s) => s.seq), seq, hash, String(seq)],
        );
      }
      await client.query('COMMIT');
      this.seq = seq;
      this.hash = hash;
      for (const { transaction, result } of decided) settled.push(() => transaction.resolve(result));
    } catch (error) {
      await client?.query('ROLLBACK').catch(() => undefined);
      if (applied && this.reset) {
        // Memory holds decisions the database does not (or, if COMMIT itself was cut, may not): the next read or
        // commit rebuilds it from the database first, so nothing is ever decided on a decision that was not kept.
        this.stale = true;
      } else if (applied) {
        // Nobody to rebuild the state: refuse everything until a restart replays the store.
        this.broken = new RemoteError('store_write_failed', `the broker could not commit to its store ${this.where}: ${(error as Error).message}`, {
          hint: 'Check the database and restart this broker; every acknowledged decision is in the database.',
          cause: error,
        });
      }
      settled.length = 0;
      const reason = this.broken ?? unreachable(error, this.where);
      for (const transaction of batch) settled.push(() => transaction.reject(reason));
    } finally {
      client?.release();
    }
    for (const settle of settled) settle();
  }

  /** Applies the rows after this store's position, checking that they follow on and chain. */
  private async catchUp(client: Pick<pg.ClientBase, 'query'>): Promise<void> {
    if (this.stale) {
      // Rebuilt from scratch: what memory held past the database is gone with the failed commit.
      this.reset!();
      this.seq = 0;
      this.hash = GENESIS;
      this.stale = false;
    }
    const { rows } = await client.query<{ seq: string; text: string }>('SELECT seq, text FROM byoc_events WHERE seq > $1 ORDER BY seq', [this.seq]);
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== this.seq + 1) throw this.corrupt(`row ${this.seq + 1} is missing (the next is row ${seq})`);
      this.apply(this.parse(row.text, row.seq));
      this.seq = seq;
      this.hash = recordHash(row.text);
    }
  }

  private parse(text: string, seq: string): BrokerEvent {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw this.corrupt(`row ${seq} is not JSON`);
    }
    const event = typeof value === 'object' && value !== null && !Array.isArray(value) ? unchained(value as Record<string, unknown>) : value;
    const problem = eventProblem(event);
    if (problem) throw this.corrupt(`row ${seq}: ${problem}`);
    return event as BrokerEvent;
  }

  private corrupt(what: string): RemoteError {
    return new RemoteError('store_corrupt', `the broker store ${this.where} is damaged: ${what}`, {
      hint: 'Run byoc broker verify to find the first broken link, and restore the database from backup. byoc only ever appends to it.',
    });
  }
}
