/**
 * The presets on a current ClickHouse: every preset, rendered for the schema a current engine (chdb) reports, is
 * parsed by that engine (formatQuery), and those whose table chdb has are run on it, so a column that current
 * ClickHouse renamed or dropped fails here. clickhouse-local has no query_log and no cluster it can reach (no TCP
 * port for a localhost replica), so the query_log and cluster-* presets are proven by the parser only.
 *
 * chdb lives in its own package (test/chdb/package.json); absent, this is skipped with the install command, except
 * under CI=true, where it must run (as the operator-config proof).
 */
import { describe, expect, it } from 'vitest';
import { chdbFor } from './engine.js';
import { CURRENT_SCHEMA, describeServer, schemaSql } from '../../src/clickhouse/preset-schema.js';
import { PRESETS, presetTables, renderPreset } from '../../src/clickhouse/presets.js';
import { parseTsvLine } from '../../src/clickhouse/run.js';

const chdb = chdbFor('presets on a current ClickHouse (chdb)');

function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

describe.skipIf(!chdb)('presets on a current ClickHouse (chdb)', () => {
  // The schema as this engine reports it, through the same statement byoc sends; a cluster is added for cluster-*
  const rows = () => chdb!.query(schemaSql(presetTables(PRESETS)), 'TSV').split('\n').filter(Boolean).map(parseTsvLine);
  const detected = () => ({ ...describeServer(rows()), clusters: ['main'] });

  it('answers the schema statement with columns, clusterAllReplicas and its version', () => {
    const schema = detected();
    expect(schema.version).toMatch(/^\d+\.\d+/);
    expect(schema.clusterAllReplicas).toBe(true);
    for (const table of ['parts', 'mutations', 'errors', 'disks', 'dictionaries', 'distribution_queue']) expect(schema.table(table), table).toBeDefined();
  });

  it.each(PRESETS.map((preset) => [preset.name, preset] as const))('%s parses on the engine, as detected and as assumed current', (_name, preset) => {
    // Given the preset rendered for the engine's own schema and for the assumed current one / When the engine formats it
    for (const schema of [detected(), CURRENT_SCHEMA]) {
      const { sql } = renderPreset(preset, schema, { cluster: 'main' });
      // Then it parses (formatQuery throws on a syntax error) into a SELECT
      expect(chdb!.query(`SELECT formatQuery(${literal(sql)})`, 'TSVRaw').trim()).toMatch(/^SELECT/);
    }
  });

  it.each(PRESETS.filter((preset) => !preset.replicas && preset.table !== 'query_log').map((preset) => [preset.name, preset] as const))(
    '%s runs on the engine (every column it names exists there)',
    (_name, preset) => {
      // Given the preset rendered for the engine's schema, whose table exists there / When run / Then no exception
      const { sql, notes } = renderPreset(preset, detected());
      expect(notes).toEqual([]);
      expect(() => chdb!.query(sql, 'TSV')).not.toThrow();
    },
  );
});
