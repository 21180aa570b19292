/**
 * The store contract, the same tests over both stores: the JSONL event log in a folder and PostgreSQL (a real
 * cluster, test/support/postgres.ts; skipped with a message where PostgreSQL is not installed, a failure under
 * CI=true). Each case opens two handles on one store, as two processes or two broker replicas would.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../../src/access/chain.js';
import type { EventStore } from '../../../src/access/event-store.js';
import { processLockOwner } from '../../../src/access/open.js';
import { migrateStore } from '../../../src/access/postgres/migrations.js';
import { PostgresStore } from '../../../src/access/postgres/store.js';
import { EventLog, type BrokerEvent } from '../../../src/access/store.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { MovableClock } from './served-broker.js';
import { findPostgresBin, postgresCluster, postgresTier, type PostgresCluster } from '../../support/postgres.js';

type Token = Extract<BrokerEvent, { type: 'token.created' }>;
const token = (user: string): Token => ({ type: 'token.created', at: '2026-01-01T00:00:00.000Z', user, tokenHash: `h-${user}` });

/** A handle on a store and the events it has applied. */
interface Handle {
  store: EventStore;
  seen: BrokerEvent[];
}

interface StoreKind {
  /** A new empty store; open() gives another handle on it each time. */
  make(): Promise<{ open(): Promise<Handle> }>;
}

const jsonl: StoreKind = {
  async make() {
    const dir = tempDir();
    return {
      async open() {
        const seen: BrokerEvent[] = [];
        const store = await EventLog.open(dir, (event) => seen.push(event), { warn: () => undefined, owner: processLockOwner() });
        return { store, seen };
      },
    };
  },
};

function postgres(cluster: { readonly current: PostgresCluster }): StoreKind {
  return {
    async make() {
      const database = await cluster.current.createDatabase('contract');
      const options = { url: cluster.current.url(database), password: cluster.current.password, warn: () => undefined };
      const admin = await PostgresStore.connect(options).catch(() => undefined);
      expect(admin).toBeUndefined(); // not migrated yet: refused
      await migrateStore(options.url, options.password);
      return {
        async open() {
          const seen: BrokerEvent[] = [];
          const store = await (await PostgresStore.connect(options)).open((event) => seen.push(event));
          return { store, seen };
        },
      };
    },
  };
}

const kinds: [string, () => StoreKind][] = [['JSONL', () => jsonl]];
let cluster: { readonly current: PostgresCluster } | undefined;
if (findPostgresBin() || process.env.CI === 'true') {
  if (postgresTier('store contract on PostgreSQL')) {
    cluster = postgresCluster();
    kinds.push(['PostgreSQL', () => postgres(cluster!)]);
  }
} else {
  console.warn('store contract on PostgreSQL skipped: PostgreSQL not installed (apt-get install -y postgresql)');
}

describe.each(kinds)('the %s store', (_name, kind) => {
  const handles: Handle[] = [];
  const open = async (store: { open(): Promise<Handle> }) => {
    const handle = await store.open();
    handles.push(handle);
    return handle;
  };
  const closeAll = async () => {
    for (const { store } of handles.splice(0)) await store.close();
  };

  it('commits what decide returns, and another handle reads it in order after refresh', async () => {
    try {
      // Given two handles on one new store
      const store = await kind().make();
      const [a, b] = [await open(store), await open(store)];
      // When one commits two transactions
      expect(await a.store.transact(() => ({ events: [token('ann')], result: 1 }))).toBe(1);
      await a.store.transact(() => ({ events: [token('bob'), token('cid')], result: 2 }));
      // Then it applied them as it committed, and the other reads them, in order, once refreshed
      expect(a.seen.map((e) => (e as Token).user)).toEqual(['ann', 'bob', 'cid']);
      await b.store.refresh();
      expect(b.seen).toEqual(a.seen);
      // And a third handle opened now replays exactly those
      expect((await open(store)).seen).toEqual(a.seen);
    } finally {
      await closeAll();
    }
  });

  it('serialises transactions racing from two handles: each decides on every commit before it', async () => {
    try {
      // Given two handles, each deciding "the next number" from the events it has applied
      const store = await kind().make();
      const [a, b] = [await open(store), await open(store)];
      const next = (handle: Handle) => () => {
        const n = handle.seen.length + 1;
        return { events: [token(`n${n}`)], result: n };
      };
      // When 2 x 15 transactions race
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).store.transact(next(i % 2 ? a : b))));
      // Then every number was handed out exactly once, and the store holds 1..30 in order
      expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      const fresh = await open(store);
      expect(fresh.seen.map((e) => (e as Token).user)).toEqual(Array.from({ length: 30 }, (_, i) => `n${i + 1}`));
    } finally {
      await closeAll();
    }
  });

  it('rejects only the transaction whose decide throws, and writes nothing for it', async () => {
    try {
      // Given a store
      const store = await kind().make();
      const a = await open(store);
      // When a refusing transaction races two good ones
      const outcomes = await Promise.allSettled([
        a.store.transact(() => ({ events: [token('ok1')], result: 'ok' })),
        a.store.transact(() => {
          throw new Error('refused');
        }),
        a.store.transact(() => ({ events: [token('ok2')], result: 'ok' })),
      ]);
      // Then it alone is rejected, and only the good ones are stored
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await open(store)).seen.map((e) => (e as Token).user)).toEqual(['ok1', 'ok2']);
    } finally {
      await closeAll();
    }
  });

  it('gives its stored texts in order through records(), a chain that verifies, and scan() finds by text', async () => {
    try {
      // Given a store with three events
      const store = await kind().make();
      const a = await open(store);
      for (const user of ['ann', 'bob', 'cid']) await a.store.transact(() => ({ events: [token(user)], result: undefined }));
      // When its records are read
      const records = [];
      for await (const record of a.store.records()) records.push(record);
      // Then there are three, in order, and the chain is intact
      expect(records.map((r) => (JSON.parse(r.text) as Token).user)).toEqual(['ann', 'bob', 'cid']);
      expect(await verifyChain(records)).toMatchObject({ intact: true, events: 3 });
      // And scan finds the one naming a user
      expect((await a.store.scan('"bob"')).map((e) => (e as Token).user)).toEqual(['bob']);
    } finally {
      await closeAll();
    }
  });

  it('wakes a waiter in changed() when another handle commits, well before any fallback poll', async () => {
    try {
      // Given a handle waiting for a change
      const store = await kind().make();
      const [a, b] = [await open(store), await open(store)];
      const started = Date.now();
      const woken = a.store.changed();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // When the other commits
      await b.store.transact(() => ({ events: [token('late')], result: undefined }));
      await woken;
      // Then the waiter woke promptly and reads the event after refresh
      expect(Date.now() - started).toBeLessThan(900);
      await a.store.refresh();
      expect(a.seen.map((e) => (e as Token).user)).toEqual(['late']);
      // And an aborted wait returns at once
      const controller = new AbortController();
      const aborted = a.store.changed(controller.signal);
      controller.abort();
      await aborted;
    } finally {
      await closeAll();
    }
  });

  it('rewinds: replays everything after reset, nothing twice', async () => {
    try {
      // Given a handle that applied two events
      const store = await kind().make();
      const a = await open(store);
      await a.store.transact(() => ({ events: [token('ann'), token('bob')], result: undefined }));
      // When it rewinds with a reset emptying its state
      await a.store.rewind(() => a.seen.splice(0));
      // Then it holds the two again, once each
      expect(a.seen.map((e) => (e as Token).user)).toEqual(['ann', 'bob']);
      expect(a.store.position().offset).toBeGreaterThan(0);
    } finally {
      await closeAll();
    }
  });
});

describe('broker.store', () => {
  it('names the folder of the JSONL store, relative to the working folder; the state folder holds none of it', async () => {
    // Given broker.store set to a folder of the working folder
    const stateDir = tempDir();
    const cwd = tempDir({ 'byoc.config.yaml': `services:\n  acme-prod: { policy: { approvers: [bob@vendor.example] } }\nbroker: { store: team-store }\n` });
    const clock = new MovableClock(new Date());
    // When a request is made and approved embedded
    const created = await runCli(['access', 'request', 'acme-prod', '--duration', '30m', '--reason', 'INC-1', '--json'], { cwd, clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: 'alice@vendor.example' } });
    // (exit 8: accepted, still pending; the request's id is in the error document)
    expect(created.exitCode, created.stderr).toBe(8);
    const id = /r-[a-z0-9]+/.exec(created.stderr)![0];
    expect((await runCli(['access', 'approve', id], { cwd, clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: 'bob@vendor.example' } })).exitCode).toBe(0);
    // Then both events are in that folder's log, and the state folder has no broker log
    const lines = readFileSync(path.join(cwd, 'team-store', 'events.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { type: string }).type)).toEqual(['request.created', 'request.reviewed']);
    expect(existsSync(path.join(stateDir, 'broker', 'events.jsonl'))).toBe(false);
  });

  it('is what byoc broker migrate works on: a folder store is refused (exit 2) saying how to name a database', async () => {
    // Given no broker.store (the JSONL folder)
    const cwd = tempDir({ 'byoc.config.yaml': 'services: { acme-prod: {} }\n' });
    // When migrate runs, Then it is a usage error naming the setting and the flag
    const result = await runCli(['broker', 'migrate'], { cwd, env: { BYOC_STATE_DIR: tempDir() } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/works on a postgres:\/\/ store[\s\S]*--to postgres:\/\//);
  });
});
