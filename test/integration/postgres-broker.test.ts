/**
 * The broker on a real PostgreSQL, several brokers on one database as several replicas would be (each its own
 * pool, its own memory; opened through the real wiring, openBroker with `broker.store: postgres://...` and the
 * password from the environment). Proven from the database's side where it matters: rows counted with SQL.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AccessBroker } from '../../src/access/broker.js';
import { verifyChain } from '../../src/access/chain.js';
import { openBroker, postgresRecords, processLockOwner } from '../../src/access/open.js';
import { PostgresStore } from '../../src/access/postgres/store.js';
import { createCsr, generateKeyPairPem } from '../../src/pki/x509.js';
import { runCli, testContext } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';
import { MovableClock } from '../unit/access/served-broker.js';
import { postgresCluster, postgresTier } from '../support/postgres.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const ERIN = 'erin@vendor.example';

if (postgresTier('broker on PostgreSQL')) {
  describe('broker on PostgreSQL', () => {
    const cluster = postgresCluster();
    const opened: AccessBroker[] = [];

    /** A workspace on a new migrated database: `open()` gives another broker replica on it. */
    async function team(options: { approvals?: number; migrate?: boolean } = {}) {
      const database = await cluster.current.createDatabase('broker');
      const url = cluster.current.url(database);
      const config = `services:\n  acme-prod: { policy: { approvers: [${BOB}, ${ERIN}], approvals: ${options.approvals ?? 1} } }\nbroker: { store: "${url}" }\n`;
      const cwd = tempDir({ 'byoc.config.yaml': config });
      const env = { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_STORE_PASSWORD: cluster.current.password };
      const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd, env: { ...env, ...extra } });
      if (options.migrate !== false) expect((await cli(['broker', 'migrate'])).exitCode).toBe(0);
      return {
        database,
        url,
        cwd,
        cli,
        async open(hold = true): Promise<AccessBroker> {
          const { ctx } = testContext({ cwd, env: { ...env, BYOC_STATE_DIR: tempDir() }, clock: new MovableClock(new Date()) });
          const broker = await openBroker(ctx, await ctx.config(), { hold, operatorHooks: false });
          opened.push(broker);
          return broker;
        },
        async closeAll() {
          for (const broker of opened.splice(0)) await broker.close();
        },
      };
    }
    const request = (broker: AccessBroker) => broker.create(ALICE, { service: 'acme-prod', duration: '30m', reason: 'INC-1' });

    it('refuses a store not migrated (exit 3, run migrate), migrates once, and refuses a newer schema naming both versions', async () => {
      // Given a new database
      const t = await team({ migrate: false });
      // When a command uses it before migrate, Then it is refused with what to do
      const before = await t.cli(['access', 'list'], { BYOC_USER: ALICE });
      expect(before.exitCode).toBe(3);
      expect(before.stderr).toMatch(/no byoc schema yet[\s\S]*byoc broker migrate/);
      // When migrate runs twice
      const first = await t.cli(['broker', 'migrate', '--json']);
      const second = await t.cli(['broker', 'migrate', '--json']);
      // Then the first applies every version and the second has nothing to do
      expect(JSON.parse(first.stdout)).toMatchObject({ schema: { from: 0, to: 2, applied: [1, 2] } });
      expect(JSON.parse(second.stdout)).toMatchObject({ schema: { from: 2, to: 2, applied: [] } });
      // And a database of the first version (a broker from before the notices table) gets only what it lacks
      await cluster.current.sql(t.database, 'DROP TABLE byoc_notices; UPDATE byoc_schema SET version = 1');
      expect((await t.cli(['access', 'list'], { BYOC_USER: ALICE })).stderr).toMatch(/run byoc broker migrate|byoc broker migrate/);
      expect(JSON.parse((await t.cli(['broker', 'migrate', '--json'])).stdout)).toMatchObject({ schema: { from: 1, to: 2, applied: [2] } });
      expect(first.stdout).not.toContain(cluster.current.password);
      // And a schema from a newer byoc is refused, naming both versions
      await cluster.current.sql(t.database, 'UPDATE byoc_schema SET version = 7');
      const newer = await t.cli(['access', 'list'], { BYOC_USER: ALICE });
      expect(newer.exitCode).toBe(3);
      expect(newer.stderr).toMatch(/schema version 7, newer than 2/);
    });

    it('takes the password from broker.storePasswordFile, and refuses a wrong one (exit 3) naming where to set it', async () => {
      // Given a database and its password in a file named by the configuration, none in the environment
      const database = await cluster.current.createDatabase('password');
      const url = cluster.current.url(database);
      const cwd = tempDir({ 'byoc.config.yaml': `broker: { store: "${url}", storePasswordFile: pw }\n`, pw: `${cluster.current.password}\n` });
      // When migrate runs, Then it connects with it
      const ok = await runCli(['broker', 'migrate'], { cwd, env: { BYOC_STATE_DIR: tempDir() } });
      expect(ok.exitCode, ok.stderr).toBe(0);
      // When the environment gives a wrong one (it wins over the file), Then it is refused with what to check
      const wrong = await runCli(['broker', 'migrate'], { cwd, env: { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_STORE_PASSWORD: 'wrong' } });
      expect(wrong.exitCode).toBe(3);
      expect(wrong.stderr).toMatch(/password authentication failed[\s\S]*BYOC_BROKER_STORE_PASSWORD/);
      expect(wrong.stderr).not.toContain(cluster.current.password);
      // And a password written into the URL works, with a warning saying where it belongs
      const inUrl = url.replace('postgres@', `postgres:${cluster.current.password}@`);
      const bare = tempDir({ 'byoc.config.yaml': 'services: { acme-prod: {} }\n' });
      const warned = await runCli(['access', 'list'], { cwd: bare, env: { BYOC_STATE_DIR: tempDir(), BYOC_USER: ALICE, BYOC_BROKER_STORE: inUrl } });
      expect(warned.exitCode, warned.stderr).toBe(0);
      expect(warned.stderr).toMatch(/broker.store carries a password[\s\S]*BYOC_BROKER_STORE_PASSWORD/);
    });

    it('serves one team from two replicas: created on one, approved on the other, the certificate from either', async () => {
      const t = await team();
      try {
        // Given two brokers on one database
        const [a, b] = [await t.open(), await t.open()];
        // When a request is created through one and approved through the other
        const created = await request(a);
        const approved = await b.approve(BOB, created.id);
        // Then it is approved, and the first sees it at once
        expect(approved.status).toBe('approved');
        expect((await a.get(ALICE, created.id)).status).toBe('approved');
        // And a certificate comes from either, signed by the one CA both share
        const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]);
        const fromA = await a.issueCertificate(ALICE, created.id, csr);
        const fromB = await b.issueCertificate(ALICE, created.id, csr);
        expect(fromA.serial).not.toBe(fromB.serial);
        expect(await a.caCertificate()).toBe(await b.caCertificate());
        expect(await cluster.current.sql(t.database, 'SELECT count(*)::int AS n FROM byoc_ca')).toEqual([{ n: 1 }]);
      } finally {
        await t.closeAll();
      }
    });

    it('refuses a token revoked through another replica within moments, also after its LISTEN connection was cut', async () => {
      const t = await team();
      try {
        // Given two replicas, and a token B has already accepted
        const [a, b] = [await t.open(), await t.open()];
        const first = await a.issueToken(undefined, { identity: ALICE });
        expect(await b.authenticateToken(first.token)).toMatchObject({ identity: ALICE });
        // When it is revoked through A, Then B refuses it within a second, with no read of its own in between
        await a.revokeToken(undefined, first.id);
        await expect.poll(async () => b.authenticateToken(first.token), { timeout: 1000, interval: 20 }).toMatchObject({ reason: 'revoked' });
        // Given a second token B accepted, and every LISTEN connection cut by the database
        const second = await a.issueToken(undefined, { identity: ALICE });
        expect(await b.authenticateToken(second.token)).toMatchObject({ identity: ALICE });
        await cluster.current.sql(t.database, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`, [t.database]);
        // When it is revoked through A, Then B still learns it (it listens again and catches up)
        await new Promise((resolve) => setTimeout(resolve, 100));
        await a.revokeToken(undefined, second.id);
        await expect.poll(async () => b.authenticateToken(second.token), { timeout: 5000, interval: 50 }).toMatchObject({ reason: 'revoked' });
      } finally {
        await t.closeAll();
      }
    });

    it('counts two racing approvals of one approver once, with a threshold of 2', async () => {
      const t = await team({ approvals: 2 });
      try {
        // Given a request needing 2 approvals, seen by two replicas
        const [a, b] = [await t.open(), await t.open()];
        const created = await request(a);
        await b.get(ALICE, created.id);
        // When bob approves through both at the same time
        const outcomes = await Promise.allSettled([a.approve(BOB, created.id), b.approve(BOB, created.id)]);
        // Then one review counts and the other is refused: still pending
        expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
        expect((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ exitCode: 4 });
        expect((await a.get(ALICE, created.id)).status).toBe('pending');
        const reviews = await cluster.current.sql(t.database, `SELECT count(*)::int AS n FROM byoc_events WHERE text LIKE '%"request.reviewed"%'`);
        expect(reviews).toEqual([{ n: 1 }]);
        // And erin's approval completes it
        expect((await b.approve(ERIN, created.id)).status).toBe('approved');
      } finally {
        await t.closeAll();
      }
    });

    it('gives approve and revoke racing on two replicas one consistent outcome', async () => {
      const t = await team();
      try {
        const [a, b] = [await t.open(), await t.open()];
        for (let round = 0; round < 5; round++) {
          // Given a pending request
          const created = await request(a);
          await b.get(ALICE, created.id);
          // When bob approves through one while alice revokes through the other
          await Promise.allSettled([a.approve(BOB, created.id), b.revoke(ALICE, created.id)]);
          // Then both replicas tell the same final state, and it is revoked (a revoke wins either order: it
          // ends a pending request or an approved grant) with at most one review before it
          const [fromA, fromB] = [await a.get(ALICE, created.id), await b.get(ALICE, created.id)];
          expect(fromA.status).toBe(fromB.status);
          expect(fromA.status).toBe('revoked');
          const rows = await cluster.current.sql<{ text: string }>(t.database, 'SELECT text FROM byoc_events WHERE strpos(text, $1) > 0 ORDER BY seq', [created.id]);
          const types = rows.map((row) => (JSON.parse(row.text) as { type: string }).type);
          expect(types.filter((type) => type === 'request.revoked')).toHaveLength(1);
          expect(types.filter((type) => type === 'request.reviewed').length).toBeLessThanOrEqual(1);
        }
      } finally {
        await t.closeAll();
      }
    });

    it('creates the CA exactly once when replicas start at the same time, and never repeats a serial', async () => {
      const t = await team();
      try {
        // Given four replicas starting at once (a served broker loads its CA as it opens)
        const brokers = await Promise.all([t.open(), t.open(), t.open(), t.open()]);
        // Then the database holds one CA, and every replica serves it
        expect(await cluster.current.sql(t.database, 'SELECT count(*)::int AS n FROM byoc_ca')).toEqual([{ n: 1 }]);
        const cas = new Set(await Promise.all(brokers.map((broker) => broker.caCertificate())));
        expect(cas.size).toBe(1);
        // When certificates are issued through all of them at once
        const created = await request(brokers[0]);
        await brokers[1].approve(BOB, created.id);
        const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]);
        const issued = await Promise.all(Array.from({ length: 12 }, (_, i) => brokers[i % 4]!.issueCertificate(ALICE, created.id, csr)));
        // Then every serial differs, each is in the serials table once
        expect(new Set(issued.map((c) => c.serial)).size).toBe(12);
        expect(await cluster.current.sql(t.database, 'SELECT count(DISTINCT serial)::int AS n FROM byoc_certificates')).toEqual([{ n: 12 }]);
      } finally {
        await t.closeAll();
      }
    });

    it('copies a JSONL store into PostgreSQL: every event verbatim, the chain and count verified, the CA; a second run finds its copy', async () => {
      // Given an embedded broker's state folder with two requests, one approved, and its CA
      const stateDir = tempDir();
      const cwd = tempDir({ 'byoc.config.yaml': `services:\n  acme-prod: { policy: { approvers: [${BOB}] } }\n` });
      const clock = new MovableClock(new Date());
      const embedded = (user: string, args: string[]) => runCli([...args, '--json'], { cwd, clock, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: user } });
      const first = JSON.parse((await embedded(ALICE, ['access', 'request', 'acme-prod', '--duration', '30m', '--reason', 'INC-7'])).stdout) as { id: string };
      await embedded(ALICE, ['access', 'request', 'acme-prod', '--duration', '1h', '--reason', 'INC-8']);
      expect((await embedded(BOB, ['access', 'approve', first.id])).exitCode).toBe(0);
      const caFiles = (await import('../../src/pki/ca.js')).caFiles(path.join(stateDir, 'broker', 'ca'));
      await (await import('../../src/pki/ca.js')).loadOrCreateBrokerCa(stateDir, new Date(), { warn: () => undefined, owner: processLockOwner() });
      const lines = readFileSync(path.join(stateDir, 'broker', 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
      // When it is migrated into a new database
      const t = await team({ migrate: false });
      const migrated = await t.cli(['broker', 'migrate', '--from', path.join(stateDir, 'broker'), '--to', t.url, '--json']);
      // Then every line is there, verbatim and in order, and the CA is the folder's
      expect(migrated.exitCode, migrated.stderr).toBe(0);
      expect(JSON.parse(migrated.stdout)).toMatchObject({ copied: { events: lines.length, already: false, ca: 'copied' } });
      const rows = await cluster.current.sql<{ text: string }>(t.database, 'SELECT text FROM byoc_events ORDER BY seq');
      expect(rows.map((row) => row.text)).toEqual(lines);
      try {
        const broker = await t.open();
        expect((await broker.get(ALICE, first.id)).status).toBe('approved');
        expect(await broker.list(BOB)).toHaveLength(2);
        expect(await broker.caCertificate()).toBe(readFileSync(caFiles.cert, 'utf8'));
        // And the store goes on chaining from the copied log's head
        await request(broker);
        const store = await PostgresStore.connect({ url: t.url, password: cluster.current.password, warn: () => undefined });
        const records = [];
        for await (const record of store.records()) records.push(record);
        await store.close();
        expect(await verifyChain(records)).toMatchObject({ intact: true, events: lines.length + 1 });
      } finally {
        await t.closeAll();
      }
      // When the same copy is asked for again into a store that went on, Then it is refused (exit 3): never merged
      const again = await t.cli(['broker', 'migrate', '--from', path.join(stateDir, 'broker'), '--to', t.url]);
      expect(again.exitCode).toBe(3);
      expect(again.stderr).toMatch(/not a copy of/);
      // And into a store holding exactly that copy, a second run says so and succeeds
      const t2 = await team({ migrate: false });
      const args = ['broker', 'migrate', '--from', path.join(stateDir, 'broker'), '--to', t2.url, '--json'];
      expect((await t2.cli(args)).exitCode).toBe(0);
      const second = await t2.cli(args);
      expect(JSON.parse(second.stdout)).toMatchObject({ copied: { events: lines.length, already: true, ca: 'same' } });
    });

    it('forgets a decision whose commit the database refused, and goes on deciding on what the database holds', async () => {
      const t = await team();
      try {
        // Given a replica, and a database that refuses any row naming POISON (a stand-in for a failed commit)
        const a = await t.open(false);
        const kept = await request(a);
        await cluster.current.sql(t.database, `ALTER TABLE byoc_events ADD CONSTRAINT no_poison CHECK (strpos(text, 'POISON') = 0)`);
        // When a request the database refuses is made
        await expect(a.create(ALICE, { service: 'acme-prod', duration: '30m', reason: 'POISON' })).rejects.toThrow(/no_poison/);
        // Then the replica does not hold it, and the next decisions go on from the database's state
        const next = await request(a);
        expect((await a.list(BOB)).map((r) => r.id).sort()).toEqual([kept.id, next.id].sort());
        expect((await a.approve(BOB, next.id)).status).toBe('approved');
        const rows = await cluster.current.sql<{ n: number }>(t.database, 'SELECT count(*)::int AS n FROM byoc_events');
        expect(rows).toEqual([{ n: 3 }]);
      } finally {
        await t.closeAll();
      }
    });

    it("sends each timer notice once across replicas: of two replicas claiming the same notices, each is won by exactly one", async () => {
      const t = await team();
      try {
        // Given two replicas on one database
        const [a, b] = [await t.open(), await t.open()];
        const keys = Array.from({ length: 20 }, (_, i) => `expiring-soon:r-${i}`);
        // When both claim the same notices at once
        const [wonByA, wonByB] = await Promise.all([a.noticeClaim()!(keys), b.noticeClaim()!(keys)]);
        // Then every notice is won once, by one of them, and nobody wins it again later
        expect([...wonByA, ...wonByB].sort()).toEqual([...keys].sort());
        expect([...wonByA].filter((key) => wonByB.has(key))).toEqual([]);
        expect(await a.noticeClaim()!(keys)).toEqual(new Set());
      } finally {
        await t.closeAll();
      }
    });

    it('keeps the chain in the database: it verifies, and a changed row is found', async () => {
      const t = await team();
      try {
        // Given a few decisions
        const a = await t.open();
        for (let i = 0; i < 3; i++) await b2(a);
        // (read as byoc broker verify reads it: through the configuration, nothing replayed)
        const { ctx } = testContext({ cwd: t.cwd, env: { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_STORE_PASSWORD: cluster.current.password } });
        const store = (await postgresRecords(ctx, await ctx.config()))!;
        try {
          const records = [];
          for await (const record of store.records()) records.push(record);
          expect(await verifyChain(records)).toMatchObject({ intact: true, events: 6 });
          const verify = () => runCli(['broker', 'verify', '--json'], { cwd: t.cwd, env: { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_STORE_PASSWORD: cluster.current.password } });
          const intact = await verify();
          expect(intact.exitCode, intact.stderr).toBe(0);
          expect(JSON.parse(intact.stdout)).toMatchObject({ intact: true, events: 6, store: expect.stringMatching(/^postgres:\/\//) });
          // When somebody with the database's superuser rewrites a reason in row 3
          await cluster.current.sql(t.database, `ALTER TABLE byoc_events DISABLE TRIGGER byoc_events_append_only; UPDATE byoc_events SET text = replace(text, 'INC-1', 'INC-2') WHERE seq = 3; ALTER TABLE byoc_events ENABLE TRIGGER byoc_events_append_only`);
          const tampered = [];
          for await (const record of store.records()) tampered.push(record);
          // Then the chain breaks at the row after it
          expect(await verifyChain(tampered)).toMatchObject({ intact: false, brokenAt: 'row 4' });
          // and byoc broker verify says so from the command line (exit 4), pointing at the table
          const broken = await verify();
          expect(broken.exitCode).toBe(4);
          expect(JSON.parse(broken.stderr).error).toMatchObject({ code: 'chain_broken', hint: expect.stringContaining('byoc_events') });
          expect(JSON.parse(broken.stderr).error.message).toContain('row 4');
          // And the table refuses changes through the schema (append-only)
          await expect(cluster.current.sql(t.database, 'DELETE FROM byoc_events WHERE seq = 1')).rejects.toThrow(/append-only/);
        } finally {
          await store.close();
        }
      } finally {
        await t.closeAll();
      }
      async function b2(broker: AccessBroker) {
        const created = await request(broker);
        await broker.approve(BOB, created.id);
      }
    });
  });
}
