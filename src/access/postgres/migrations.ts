/**
 * The broker's schema in PostgreSQL, versioned. Migrations only ever add: each runs once, in order, in one
 * transaction with the version it reaches (`byoc broker migrate` applies them). A broker checks the version when
 * it opens the store and refuses a schema it does not know (newer: an older byoc against a newer database) or one
 * not yet migrated.
 */
import type pg from 'pg';
import { ConfigError } from '../../errors.js';
import { GENESIS } from '../chain.js';
import { connectionConfig, redact, storeFailure } from './connection.js';

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events (chained, append-only), the head of the chain, the CA, certificate serials',
    sql: `
      CREATE TABLE byoc_events (
        seq bigint PRIMARY KEY CHECK (seq > 0),
        text text NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now()
      );
      -- One row: where the chain ends. Every writer locks it (FOR UPDATE) for its transaction: commits are
      -- serialised across every broker replica, each deciding on the state every commit before it produced.
      CREATE TABLE byoc_head (
        id int PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash text NOT NULL
      );
      INSERT INTO byoc_head (id, seq, hash) VALUES (1, 0, '${GENESIS}');
      -- The broker CA: one row, inserted once (whichever replica gets there first; the others load it).
      CREATE TABLE byoc_ca (
        id int PRIMARY KEY CHECK (id = 1),
        cert_pem text NOT NULL,
        key_pem text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- The backstop for what the broker already ensures: a certificate serial is never issued twice.
      CREATE TABLE byoc_certificates (
        serial text PRIMARY KEY,
        request_id text NOT NULL,
        seq bigint NOT NULL REFERENCES byoc_events (seq)
      );
      -- Append-only: byoc never changes or removes an event; neither may anybody through this schema.
      CREATE FUNCTION byoc_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'byoc_events is append-only'; END $$;
      CREATE TRIGGER byoc_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON byoc_events
        FOR EACH STATEMENT EXECUTE FUNCTION byoc_events_append_only();
    `,
  },
  {
    version: 2,
    description: 'notices the brokers send once across replicas (expiring-soon, lapsed)',
    sql: `
      CREATE TABLE byoc_notices (
        key text PRIMARY KEY,
        claimed_at timestamptz NOT NULL
      );
    `,
  },
];

/** The schema version this byoc knows (and writes). */
const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Serialises migrations across processes: an arbitrary constant, the same in every byoc. */
const MIGRATION_LOCK = 0x6279_6f63;

/** The schema version of the database (0: nothing of byoc's yet). */
async function schemaVersion(client: Pick<pg.ClientBase, 'query'>): Promise<number> {
  const table = await client.query<{ exists: boolean }>(`SELECT to_regclass('byoc_schema') IS NOT NULL AS exists`);
  if (!table.rows[0]?.exists) return 0;
  const { rows } = await client.query<{ version: number }>('SELECT version FROM byoc_schema WHERE id = 1');
  return rows[0]?.version ?? 0;
}

/**
 * Applies the migrations the database at `url` lacks (`byoc broker migrate`).
 * @public (also what bench/ calls from dist/ to prepare a database)
 */
export async function migrateStore(url: string, password: string | undefined): Promise<{ from: number; to: number; applied: number[] }> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ ...connectionConfig(url, password), max: 1 });
  try {
    return await migrate(pool);
  } catch (error) {
    throw storeFailure(error, redact(url));
  } finally {
    await pool.end();
  }
}

/** Applies the migrations the database lacks; returns the versions before and after. Safe to run concurrently. */
async function migrate(pool: pg.Pool): Promise<{ from: number; to: number; applied: number[] }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS byoc_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)');
    const from = await schemaVersion(client);
    if (from > SCHEMA_VERSION) throw newerSchema(from);
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= from) continue;
      await client.query(migration.sql);
      applied.push(migration.version);
    }
    await client.query('INSERT INTO byoc_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version', [SCHEMA_VERSION]);
    await client.query('COMMIT');
    return { from, to: SCHEMA_VERSION, applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Refuses a database whose schema is not the one this byoc knows. */
export async function checkSchema(client: Pick<pg.ClientBase, 'query'>, where: string): Promise<void> {
  const version = await schemaVersion(client);
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) throw newerSchema(version);
  throw new ConfigError(
    'store_not_migrated',
    version === 0 ? `the broker store ${where} has no byoc schema yet` : `the broker store ${where} has schema version ${version}; this byoc needs ${SCHEMA_VERSION}`,
    { hint: `Run byoc broker migrate (with the same broker.store) once, then start the broker again.` },
  );
}

function newerSchema(version: number): ConfigError {
  return new ConfigError('store_schema_newer', `the broker store has schema version ${version}, newer than ${SCHEMA_VERSION}, the newest this byoc knows`, {
    hint: 'Another broker replica runs a newer byoc: upgrade this one to the same version (never run an older byoc against a migrated store).',
  });
}
