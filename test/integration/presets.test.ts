/**
 * Tier 3 for `byoc query --preset`: every preset runs on the real sandbox (ClickHouse 18.16 behind nginx doing mutual
 * TLS), as an engineer with an approved grant. 18.16 lacks system.errors, system.disks, system.distribution_queue
 * and clusterAllReplicas: those presets must still exit 0, with a one-line warning instead of a server exception.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/clickhouse/presets.js';
import { runCli } from '../fakes/context.js';
import { realClock, sandboxTier } from './tier.js';

const available = sandboxTier('presets integration tier');
const BOB = 'bob@vendor.example';

describe.skipIf(!available)('byoc query --preset on the real sandbox (ClickHouse 18.16)', () => {
  let stateDir: string;
  let cwd: string;
  let engineer: string;
  const clock = realClock();
  const as = (user: string | undefined, args: string[]) => runCli(args, { cwd, clock, env: { BYOC_STATE_DIR: stateDir, ...(user ? { BYOC_USER: user } : {}) } });

  beforeAll(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-it-presets-'));
    cwd = mkdtempSync(path.join(os.tmpdir(), 'byoc-it-presets-cwd-'));
    const started = await as(undefined, ['sandbox', 'up', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    // one engineer with a grant bob approved; every test only reads system tables with it
    engineer = 'presets@vendor.example';
    const requested = await as(engineer, ['access', 'request', 'sandbox', '--reason', 'presets', '--ticket', 'INC-13', '--no-wait', '--json']);
    const { id } = JSON.parse(requested.stdout) as { id: string };
    const approved = await as(BOB, ['access', 'approve', id]);
    expect(approved.exitCode, approved.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (stateDir) await as(undefined, ['sandbox', 'down']);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

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
