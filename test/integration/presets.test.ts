/**
 * Tier 3 for `byoc query --preset`: every preset runs on the real sandbox (ClickHouse 18.16 behind nginx doing mutual
 * TLS), as an engineer with an approved grant. 18.16 lacks system.errors, system.disks, system.distribution_queue
 * and clusterAllReplicas: those presets must still exit 0, with a one-line warning instead of a server exception.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/clickhouse/presets.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

const available = sandboxTier('presets integration tier');

describe.skipIf(!available)('byoc query --preset on the real sandbox (ClickHouse 18.16)', () => {
  const sandbox = sandboxWorkspace('presets');
  const { as } = sandbox;
  let engineer: string;

  beforeAll(async () => {
    // one engineer with a grant bob approved; every test only reads system tables with it
    engineer = (await sandbox.approvedEngineer('presets', 'presets')).identity;
  }, 60_000);

  const missingTable = new Set(['errors', 'disks', 'distribution-queue']);

  it.each(PRESETS.map((preset) => [preset.name, preset] as const))('%s runs with exit 0', async (name, preset) => {
    // Given the sandbox's 18.16 / When the preset runs (cluster-* with a cluster name) as JSON
    const result = await as(engineer, ['query', 'sandbox', '--preset', name, '--json', ...(preset.replicas ? ['--cluster', 'main'] : [])]);
    // Then exit 0 and a result document
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ rows: expect.any(Array), rowCount: expect.any(Number) });
    // And a table 18.16 lacks is a one-line warning and no rows; clusterAllReplicas' absence says one server is shown
    if (missingTable.has(name)) {
      expect(result.stderr.trim()).toBe(`warning: this server (ClickHouse 18.16.1) has no system.${preset.table} (a later ClickHouse added it): preset ${name} has nothing to show here`);
      expect(JSON.parse(result.stdout).rowCount).toBe(0);
    } else if (preset.replicas) {
      expect(result.stderr.trim()).toBe(`warning: this server (ClickHouse 18.16.1) has no clusterAllReplicas (a later ClickHouse added it): showing this server's system.${preset.table} only`);
    } else {
      expect(result.stderr).toBe('');
    }
  });

  it('shows what 18.16 has: mutations without the later failure columns, dictionaries with their load time', async () => {
    const mutations = JSON.parse((await as(engineer, ['query', 'sandbox', '--preset', 'mutations', '--json'])).stdout);
    expect(mutations.columns.map((column: { name: string }) => column.name)).toEqual(['database', 'table', 'mutation_id', 'command', 'create_time', 'parts_to_do']);
    const dictionaries = JSON.parse((await as(engineer, ['query', 'sandbox', '--preset', 'dictionaries', '--json'])).stdout);
    expect(dictionaries.columns.map((column: { name: string }) => column.name)).toEqual(['name', 'element_count', 'memory', 'loaded_at', 'last_exception']);
  });
});
