import { describe, expect, it } from 'vitest';
import { postgresCluster, postgresTier } from '../support/postgres.js';

if (postgresTier('PostgreSQL harness')) {
  describe('PostgreSQL harness', () => {
    const cluster = postgresCluster();

    it('serves a fresh database per test on loopback, behind a password', async () => {
      // Given a cluster for this file
      // When two databases are created
      const a = await cluster.current.createDatabase('smoke');
      const b = await cluster.current.createDatabase('smoke');
      // Then they differ, each answers queries, and a wrong password is refused
      expect(a).not.toBe(b);
      expect(await cluster.current.sql<{ n: number }>(a, 'SELECT 1 AS n')).toEqual([{ n: 1 }]);
      const { default: pg } = await import('pg');
      const client = new pg.Client({ host: '127.0.0.1', port: cluster.current.port, user: 'postgres', database: b, password: 'wrong' });
      await expect(client.connect()).rejects.toThrow(/password authentication failed/);
    });
  });
}
