// A PostgreSQL cluster for the benchmarks, as test/support/postgres.ts starts one for the tests (the bench runs on
// dist and plain node, so it cannot import that TypeScript): Debian's binaries, a temp folder, loopback and a free
// port, run as the `postgres` user when we are root (PostgreSQL refuses root), trust authentication (only loopback
// reaches it), stopped by stop().
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';

function binaries() {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (!version) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  return path.join(root, version, 'bin');
}

/** The postgres user's uid and gid from /etc/passwd, when this process is root. */
function owner() {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (the postgresql package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A cluster in a temp folder of its own (the postgres user must reach it), removed by stop(). */
export async function startCluster() {
  const bin = binaries();
  const user = owner();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-pg-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid);
  const as = (command, args) => execFileSync(path.join(bin, command), args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], ...user });
  const data = path.join(dir, 'data');
  as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const port = await freePort();
  as('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c max_connections=200`, 'start']);
  const { default: pg } = await import('pg');
  return {
    port,
    async database(name) {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      try {
        as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
