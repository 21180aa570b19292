/**
 * Two real `byoc broker serve` processes (the built CLI) on one PostgreSQL database serving one team: what a
 * client meets over HTTP, and what the database holds after one replica is killed with SIGKILL mid-traffic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/access/chain.js';
import { createCsr, generateKeyPairPem } from '../../src/pki/x509.js';
import { spawnByoc, type SpawnedByoc } from '../fakes/spawn-byoc.js';
import { tempDir } from '../fakes/fs.js';
import { byocIn } from './broker-serve-served.js';
import { postgresCluster, postgresTier } from '../support/postgres.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';

if (postgresTier('broker replicas on PostgreSQL')) {
  describe('broker replicas on PostgreSQL', () => {
    const cluster = postgresCluster();
    const running: SpawnedByoc[] = [];
    afterEach(async () => {
      // Never leave a broker behind, whatever the test did.
      for (const served of running.splice(0)) {
        if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill('SIGKILL');
        await served.exited;
      }
    });

    /** A migrated database, tokens for alice and bob, and two `byoc broker serve` started at the same time. */
    async function twoReplicas() {
      const database = await cluster.current.createDatabase('replicas');
      const url = cluster.current.url(database);
      const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\nbroker: { store: "${url}" }\n` });
      const env = { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_STORE_PASSWORD: cluster.current.password };
      const migrated = await byocIn(cwd, env, ['broker', 'migrate']);
      expect(migrated.exitCode, migrated.stderr).toBe(0);
      const alice = (await byocIn(cwd, env, ['broker', 'token', 'create', ALICE])).stdout.trim();
      const bob = (await byocIn(cwd, env, ['broker', 'token', 'create', BOB])).stdout.trim();
      // Each replica its own state folder (as on its own host): the database is all they share.
      const start = () => {
        const served = spawnByoc(['broker', 'serve', '--listen', '127.0.0.1:0'], { cwd, env: { ...env, BYOC_STATE_DIR: tempDir() }, timeoutMs: 120_000 });
        running.push(served);
        return served;
      };
      const [a, b] = [start(), start()];
      const [urlA, urlB] = await Promise.all([listening(a), listening(b)]);
      return { database, tokens: { alice, bob }, replicas: [{ served: a, url: urlA }, { served: b, url: urlB }] };
    }

    it('serves one team: a request created through one replica is approved through the other, its certificate from either, one CA', { timeout: 120_000 }, async () => {
      // Given two replicas started at the same time
      const { database, tokens, replicas } = await twoReplicas();
      const [a, b] = [replicas[0]!, replicas[1]!];
      // When alice asks through A and bob approves through B
      const created = await call(a.url, tokens.alice, 'POST', '/v1/requests', { service: 'acme-prod', duration: '30m', reason: 'INC-9' });
      expect(created.status).toBe(201);
      const id = (created.body as { id: string }).id;
      const approved = await call(b.url, tokens.bob, 'POST', `/v1/requests/${id}/approve`, {});
      // Then it is approved, as A tells too
      expect(approved.status).toBe(200);
      expect(((await call(a.url, tokens.alice, 'GET', `/v1/requests/${id}`)).body as { status: string }).status).toBe('approved');
      // And a certificate comes from either replica, under the one CA both serve (created once, in the database)
      const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]);
      for (const replica of [a, b]) expect((await call(replica.url, tokens.alice, 'POST', `/v1/requests/${id}/certificate`, { csr })).status).toBe(201);
      const [caA, caB] = [await fetch(`${a.url}/v1/ca`).then((r) => r.text()), await fetch(`${b.url}/v1/ca`).then((r) => r.text())];
      expect(caA).toBe(caB);
      expect(await cluster.current.sql(database, 'SELECT count(*)::int AS n FROM byoc_ca')).toEqual([{ n: 1 }]);
    });

    it('loses and duplicates nothing when one replica is killed with SIGKILL in the middle of 200 lifecycles', { timeout: 180_000 }, async () => {
      // Given two replicas and 200 lifecycles (create, approve, revoke), each step through either replica
      const { database, tokens, replicas } = await twoReplicas();
      let killed = false;
      const acknowledged: { id: string; step: 'create' | 'approve' | 'revoke' }[] = [];
      let unacknowledged = 0;
      let done = 0;
      const pick = (n: number) => replicas[killed ? 1 : n % 2]!;
      /** A call through replica `n % 2`; once 60 lifecycles are done, the first call sent to A is followed at once by A's SIGKILL. */
      const send = (n: number, token: string, path: string, body: unknown) => {
        const replica = pick(n);
        const sent = call(replica.url, token, 'POST', path, body);
        if (!killed && done >= 60 && replica === replicas[0]) {
          killed = true;
          replica.served.child.kill('SIGKILL');
        }
        return sent.catch(() => undefined);
      };
      const lifecycle = async (n: number) => {
        const created = await send(n, tokens.alice, '/v1/requests', { service: 'acme-prod', duration: '30m', reason: `L-${n}` });
        if (created?.status !== 201) return void unacknowledged++;
        const id = (created.body as { id: string }).id;
        acknowledged.push({ id, step: 'create' });
        for (const [step, token, offset] of [['approve', tokens.bob, 1], ['revoke', tokens.alice, 0]] as const) {
          const answer = await send(n + offset, token, `/v1/requests/${id}/${step}`, {});
          if (answer?.status !== 200) return void unacknowledged++;
          acknowledged.push({ id, step });
        }
        done++;
      };
      // When replica A is killed with a call just sent to it, once 60 lifecycles are done, 32 running at a time
      let next = 0;
      const worker = async () => {
        while (next < 200) {
          const n = next++;
          await lifecycle(n);
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
      // Then A died of the signal, and B carried on with the rest
      expect((await replicas[0]!.served.exited).signal).toBe('SIGKILL');
      // (the kill cut calls in progress: each of those lifecycles stopped there; at most one per worker)
      expect(unacknowledged).toBeGreaterThan(0);
      expect(unacknowledged).toBeLessThanOrEqual(32);
      expect(done + unacknowledged).toBe(200);
      // And every acknowledged decision is in the table exactly once, and nothing is there twice
      const rows = await cluster.current.sql<{ seq: string; text: string }>(database, 'SELECT seq, text FROM byoc_events ORDER BY seq');
      const counts = new Map<string, number>();
      const type = { create: 'request.created', approve: 'request.reviewed', revoke: 'request.revoked' } as const;
      for (const row of rows) {
        const event = JSON.parse(row.text) as { type: string; id?: string };
        if (event.id && event.type.startsWith('request.')) counts.set(`${event.type} ${event.id}`, (counts.get(`${event.type} ${event.id}`) ?? 0) + 1);
      }
      for (const { id, step } of acknowledged) expect(counts.get(`${type[step]} ${id}`), `${step} ${id}`).toBe(1);
      expect([...counts.values()].every((count) => count === 1)).toBe(true);
      // And the chain over every row verifies
      expect(await verifyChain(rows.map((row) => ({ where: `row ${row.seq}`, text: row.text })))).toMatchObject({ intact: true, events: rows.length });
      // And B still answers, consistent with the table
      const last = acknowledged.at(-1)!;
      expect((await call(replicas[1]!.url, tokens.alice, 'GET', `/v1/requests/${last.id}`)).status).toBe(200);
    });
  });
}

/** One API call, bounded (a replica killed mid-call must not hang the test). */
async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.json() };
}

/** The URL from the "listening on" line on stderr (or its stderr when it exits first). */
function listening(served: SpawnedByoc): Promise<string> {
  let stderr = '';
  return new Promise<string>((resolve, reject) => {
    served.child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const found = /listening on (https?:\/\/\S+)/.exec(stderr);
      if (found) resolve(found[1]!);
    });
    void served.exited.then((exit) => reject(new Error(`broker serve exited ${exit.exitCode} before listening: ${exit.stderr}`)));
  });
}
