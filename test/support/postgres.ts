/**
 * A real PostgreSQL for tests: Debian's `postgresql` binaries (initdb, pg_ctl), a cluster in a temp folder on a
 * free loopback port, one per test FILE (a start costs a second or two), a fresh database per test. As root (the
 * tests here), the server runs as the `postgres` user, since initdb and postgres refuse root. `fsync` stays on: the
 * tests are about durability. The cluster requires a password (scram-sha-256), so the store's password path is the
 * one tests go through.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';

const run = promisify(execFile);

/** The folder holding initdb and pg_ctl: BYOC_TEST_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
export function findPostgresBin(): string | undefined {
  const given = process.env.BYOC_TEST_PG_BIN;
  if (given) return existsSync(path.join(given, 'initdb')) ? given : undefined;
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  return versions
    .filter((version) => /^\d+$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(root, version, 'bin'))
    .find((bin) => existsSync(path.join(bin, 'initdb')) && existsSync(path.join(bin, 'pg_ctl')));
}

/**
 * Whether the PostgreSQL tier can run here. Missing binaries skip it with a message, except under CI=true, where
 * they are a failure (the tier may never be skipped silently in CI).
 */
export function postgresTier(name: string): boolean {
  if (findPostgresBin()) return true;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('runs under CI=true', () => {
        throw new Error('CI=true but PostgreSQL is missing (no /usr/lib/postgresql/<version>/bin/initdb); .ci/run installs postgresql');
      });
    });
  } else {
    console.warn(`${name} skipped: PostgreSQL not installed (apt-get install -y postgresql)`);
  }
  return false;
}

const PG_USER = 'postgres';

export interface PostgresCluster {
  port: number;
  password: string;
  /** A connection string without the password (which comes from the environment, as the store wants). */
  url(database: string): string;
  /** A new empty database, named after `hint`. */
  createDatabase(hint?: string): Promise<string>;
  /** Runs SQL as the superuser (tampering with rows, counting them). */
  sql<R = Record<string, unknown>>(database: string, text: string, values?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a cluster in a temp folder. Always pair with stop() (postgresCluster() does, in afterAll). */
async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL binaries not found');
  const root = mkdtempSync(path.join(os.tmpdir(), 'byoc-pg-'));
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', PG_USER]);
    const { stdout: gid } = await run('id', ['-g', PG_USER]);
    owner = { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
    chownSync(root, owner.uid, owner.gid);
  }
  // As the postgres user: Node switches uid and gid for the child itself (no runuser or su needed).
  const as = (command: string, args: string[]) => run(path.join(bin, command), args, { cwd: root, ...(owner ?? {}) });
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(root, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) chownSync(pwfile, owner.uid, owner.gid);
  const data = path.join(root, 'data');
  let started = false;
  // A test process that dies without its afterAll (a crash, vitest killed) still takes its server down.
  const onExit = () => {
    if (!started) return;
    try {
      execFileSync(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore', cwd: root, ...(owner ?? {}) });
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (started) {
      started = false;
      await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => as('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined));
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await as('initdb', ['-D', data, '-U', PG_USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions']);
    const port = await freePort();
    started = true;
    await as('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(root, 'server.log'),
      '-w',
      '-o',
      `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${root} -c max_connections=200`,
      'start',
    ]);
    const url = (database: string) => `postgres://${PG_USER}@127.0.0.1:${port}/${database}`;
    let databases = 0;
    const sql = async <R>(database: string, text: string, values: unknown[] = []): Promise<R[]> => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, database, password });
      await client.connect();
      try {
        return (await client.query(text, values)).rows as R[];
      } finally {
        await client.end();
      }
    };
    return {
      port,
      password,
      url,
      sql,
      async createDatabase(hint = 'db') {
        const name = `${hint.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${++databases}`;
        await sql('postgres', `CREATE DATABASE ${name}`);
        return name;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One cluster for the test file: started in beforeAll, stopped in afterAll (also when tests fail). */
export function postgresCluster(): { readonly current: PostgresCluster } {
  const holder = { current: undefined as unknown as PostgresCluster };
  beforeAll(async () => {
    holder.current = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await holder.current?.stop();
  }, 60_000);
  return holder;
}
