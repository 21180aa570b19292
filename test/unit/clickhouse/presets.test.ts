import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkQuery } from '../../../src/clickhouse/guard.js';
import { CURRENT_SCHEMA, describeServer, schemaSql } from '../../../src/clickhouse/preset-schema.js';
import { findPreset, PRESETS, presetTables, renderPreset } from '../../../src/clickhouse/presets.js';
import { parseTsvLine } from '../../../src/clickhouse/run.js';

/** What the sandbox's ClickHouse 18.16.1 answered to the schema query (system.columns of the presets' tables, and version()). */
const OLD = describeServer(
  readFileSync(new URL('./fixtures/system-columns-18.16.tsv', import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(parseTsvLine),
);

/** A current server with clusterAllReplicas and two clusters. */
const CURRENT = { ...CURRENT_SCHEMA, version: '25.8.1.1', clusters: ['main', 'other'] };

const preset = (name: string) => findPreset(name)!;
const local = PRESETS.filter((entry) => !entry.replicas);
const replicas = PRESETS.filter((entry) => entry.replicas);


describe('presets', () => {
  it('cover the diagnostics on-call engineers reach for', () => {
    // Given the preset list / Then every agreed diagnostic is there, once
    expect(PRESETS.map((entry) => entry.name)).toEqual([
      'parts',
      'merges',
      'mutations',
      'replication-queue',
      'replica-delays',
      'errors',
      'slow-queries',
      'failed-queries',
      'processes',
      'disks',
      'settings-changed',
      'dictionaries',
      'distribution-queue',
      'cluster-replication-queue',
      'cluster-replica-delays',
      'cluster-parts',
    ]);
  });

  it.each(local.map((entry) => [entry.name, entry] as const))('%s passes the guard and reads system tables only, on current and 18.16 servers', (_name, entry) => {
    for (const schema of [CURRENT_SCHEMA, OLD]) {
      // Given a preset rendered for the server / When its SQL is checked
      const verdict = checkQuery(renderPreset(entry, schema).sql);
      // Then it is allowed and reads at least one system table, nothing else
      expect(verdict.reason).toMatch(/^read-only SELECT/);
      expect(verdict.tables.length).toBeGreaterThan(0);
      for (const table of verdict.tables) expect(table).toMatch(/^system\./);
    }
  });

  for (const entry of replicas) {
    it(`${entry.name} (clusterAllReplicas) passes the guard`, () => {
      // Given a replica preset rendered for a current server and a cluster / When its SQL is checked / Then it is allowed on its system table
      const verdict = checkQuery(renderPreset(entry, CURRENT, { cluster: 'main' }).sql);
      expect(verdict.allowed, verdict.reason).toBe(true);
      expect(verdict.tables).toEqual([`system.${entry.table}`]);
    });
  }

  it.each(PRESETS.map((entry) => [entry.name, entry] as const))('%s has a kebab-case name and a one-line description', (_name, entry) => {
    // Given a preset / Then its name is kebab-case and its description one sentence on one line
    expect(entry.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(entry.description).not.toContain('\n');
    expect(entry.description.length).toBeGreaterThan(20);
    expect(entry.description.length).toBeLessThan(140);
  });

  it('compare query_log.type numerically, which works on UInt8 (before 19.13) and Enum8 columns', () => {
    // Given the presets reading query_log / Then none compares type with a string
    const queryLog = PRESETS.filter((entry) => entry.table === 'query_log');
    expect(queryLog.map((entry) => entry.name)).toEqual(['slow-queries', 'failed-queries']);
    for (const entry of queryLog) {
      const { sql } = renderPreset(entry);
      expect(sql).toContain("CAST(type, 'Int8')");
      expect(sql).not.toMatch(/type\s*(=|IN)\s*\(?'/);
    }
  });

  it('are found by name, ignoring case and surrounding spaces', () => {
    // Given preset names as a user might type them / When looked up / Then the preset or nothing comes back
    expect(findPreset('merges')?.name).toBe('merges');
    expect(findPreset(' Slow-Queries ')?.name).toBe('slow-queries');
    expect(findPreset('nope')).toBeUndefined();
  });
});

describe('presets rendered for the server', () => {
  it('read the schema in one statement the guard allows and 18.16 understands (UNION ALL of system tables it has)', () => {
    // Given the tables of all presets / When the schema statement is built
    const sql = schemaSql(presetTables(PRESETS));
    // Then it is one allowed read of system tables only, naming every preset table
    const verdict = checkQuery(sql);
    expect(verdict.allowed, verdict.reason).toBe(true);
    expect(verdict.tables.sort()).toEqual(['system.clusters', 'system.columns', 'system.one', 'system.table_functions']);
    for (const table of presetTables(PRESETS)) expect(sql).toContain(`'${table}'`);
  });

  it('describe the server from its answer: columns per table, clusterAllReplicas, clusters and version', () => {
    // Given answers of a current server / When described
    const schema = describeServer([
      ['column', 'errors', 'name', 'String'],
      ['column', 'errors', 'last_error_time', 'DateTime'],
      ['function', '', 'clusterAllReplicas', ''],
      ['cluster', '', 'zeta', ''],
      ['cluster', '', 'main', ''],
      ['version', '', '25.8.1.1', ''],
    ]);
    // Then each is read back
    expect(schema.table('errors')?.has('last_error_time')).toBe(true);
    expect(schema.table('errors')?.has('last_error_message')).toBe(false);
    expect(schema.table('disks')).toBeUndefined();
    expect(schema).toMatchObject({ version: '25.8.1.1', clusterAllReplicas: true, clusters: ['main', 'zeta'] });
    // and the 18.16 answer has neither clusterAllReplicas nor clusters
    expect(OLD).toMatchObject({ version: '18.16.1', clusterAllReplicas: false, clusters: [] });
  });

  it('show later columns only where the server has them (mutations, dictionaries, errors)', () => {
    // Given 18.16 and current schemas / When mutations and dictionaries are rendered
    expect(renderPreset(preset('mutations'), OLD).sql).not.toContain('latest_fail_reason');
    expect(renderPreset(preset('mutations'), CURRENT).sql).toContain('latest_fail_reason');
    const oldDictionaries = renderPreset(preset('dictionaries'), OLD).sql;
    // Then 18.16 gets its own columns (creation_time is its last load), current ones theirs
    expect(oldDictionaries).toContain('creation_time AS loaded_at');
    expect(oldDictionaries).not.toMatch(/\bdatabase\b|\bstatus\b|last_successful_update_time/);
    expect(renderPreset(preset('dictionaries'), CURRENT).sql).toMatch(/database,[\s\S]*status,[\s\S]*last_successful_update_time[\s\S]*ORDER BY last_exception = '', database, name/);
    // And the first system.errors (name, code, value) is ordered by count, later ones by the last error
    const firstErrors = describeServer(['name', 'code', 'value'].map((column) => ['column', 'errors', column, 'String']));
    expect(renderPreset(preset('errors'), firstErrors).sql).toMatch(/ORDER BY value DESC$/);
    expect(renderPreset(preset('errors'), firstErrors).sql).not.toContain('last_error');
    expect(renderPreset(preset('errors'), CURRENT).sql).toMatch(/last_error_message\nFROM system.errors[\s\S]*ORDER BY last_error_time DESC$/);
  });

  it.each(['errors', 'disks', 'distribution-queue'])('%s on 18.16 (no such table): an empty result and a note naming the table and version', (name) => {
    // Given 18.16, which lacks the table / When rendered
    const rendered = renderPreset(preset(name), OLD);
    // Then the SQL returns no rows from system.one, and the note says why
    expect(rendered.sql).toMatch(/FROM system\.one WHERE 0$/);
    expect(checkQuery(rendered.sql).allowed).toBe(true);
    expect(rendered.notes).toEqual([`this server (ClickHouse 18.16.1) has no system.${preset(name).table} (a later ClickHouse added it): preset ${name} has nothing to show here`]);
  });

  it('replica presets read clusterAllReplicas with the cluster quoted, and refuse a cluster the server does not have, naming those it has', () => {
    // Given a current server with clusters main and other
    // When a replica preset is rendered for main / Then it reads every replica of main, with the host of each row
    const { sql, notes } = renderPreset(preset('cluster-replica-delays'), CURRENT, { cluster: 'main' });
    expect(sql).toContain("FROM clusterAllReplicas('main', system.replicas)");
    expect(sql).toContain('hostName() AS host');
    expect(notes).toEqual([]);
    // When the cluster is unknown / Then a usage error lists the clusters there
    expect(() => renderPreset(preset('cluster-parts'), CURRENT, { cluster: 'nope' })).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringContaining('"nope"'), hint: expect.stringContaining('main, other') }));
    // And a server with no clusters points at the one-server preset
    expect(() => renderPreset(preset('cluster-parts'), { ...CURRENT, clusters: [] }, { cluster: 'main' })).toThrow(expect.objectContaining({ hint: expect.stringContaining('--preset parts') }));
    // And with no server to ask (--check, byoc query presets), a placeholder names the cluster and no list is checked
    expect(renderPreset(preset('cluster-parts')).sql).toContain("clusterAllReplicas('CLUSTER', system.parts)");
  });

  it('a name with a quote cannot leave the string literal', () => {
    // Given a cluster name with a quote and a backslash (the --cluster option refuses them; this is the second line)
    const { sql } = renderPreset(preset('cluster-parts'), { ...CURRENT, clusters: ["a\\' OR 1 --"] }, { cluster: "a\\' OR 1 --" });
    // Then they are escaped inside the literal
    expect(sql).toContain("clusterAllReplicas('a\\\\\\' OR 1 --', system.parts)");
  });

  it.each(replicas.map((entry) => [entry.name, entry] as const))('%s on 18.16 (no clusterAllReplicas): this server only, and says so', (_name, entry) => {
    // Given 18.16 / When a replica preset is rendered
    const { sql, notes } = renderPreset(entry, OLD, { cluster: 'main' });
    // Then it reads the local system table (which the guard allows today) and the note says only this server is shown
    expect(sql).toContain(`FROM system.${entry.table}\n`);
    expect(checkQuery(sql).allowed).toBe(true);
    expect(notes).toEqual([`this server (ClickHouse 18.16.1) has no clusterAllReplicas (a later ClickHouse added it): showing this server's system.${entry.table} only`]);
  });
});
