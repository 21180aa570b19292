/**
 * What a server's system tables look like, so a preset is rendered for the server it runs on: system tables
 * appear (system.disks, system.errors, system.distribution_queue), gain columns (mutations.latest_fail_reason,
 * dictionaries.status) and clusterAllReplicas arrives, all between 18.x and current ClickHouse. One query
 * reads all of it, as the audit reads query_log's columns before building its SQL.
 */

/** The columns of one system table, by name. */
export interface TableColumns {
  has(column: string): boolean;
}

export interface ServerSchema {
  /** `version()`, for messages; undefined for the assumed current schema */
  version: string | undefined;
  /** The system table's columns, or undefined when the server has no such table. */
  table(name: string): TableColumns | undefined;
  clusterAllReplicas: boolean;
  /** cluster names from system.clusters */
  clusters: readonly string[];
}

/**
 * Current ClickHouse, where every table and column the presets use exists: what `byoc query presets` shows and
 * `--check --preset` checks, without a server to ask.
 */
export const CURRENT_SCHEMA: ServerSchema = {
  version: undefined,
  table: () => ({ has: () => true }),
  clusterAllReplicas: true,
  clusters: [],
};

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * One statement for everything a preset needs to know. Each member returns (kind, table, name, type) strings, so
 * UNION ALL works on 18.16 (which names the result after the first member and needs equal types). Every table read
 * exists on 18.16 and current servers alike.
 */
export function schemaSql(tables: readonly string[]): string {
  const names = tables.map(quote).join(', ');
  return [
    `SELECT 'column' AS kind, table, name, type FROM system.columns WHERE database = 'system' AND table IN (${names})`,
    `SELECT 'function', '', name, '' FROM system.table_functions WHERE name = 'clusterAllReplicas'`,
    `SELECT 'cluster', '', cluster, '' FROM system.clusters`,
    `SELECT 'version', '', version(), '' FROM system.one`,
  ].join('\nUNION ALL\n');
}

/** The server's answer to schemaSql, as rows of (kind, table, name, type). */
export function describeServer(rows: readonly (readonly (string | null)[])[]): ServerSchema {
  const tables = new Map<string, Set<string>>();
  const clusters = new Set<string>();
  let version: string | undefined;
  let clusterAllReplicas = false;
  for (const [kind, table, name] of rows) {
    if (kind === 'column' && table && name) {
      const columns = tables.get(table) ?? new Set<string>();
      columns.add(name);
      tables.set(table, columns);
    } else if (kind === 'function' && name === 'clusterAllReplicas') clusterAllReplicas = true;
    else if (kind === 'cluster' && name) clusters.add(name);
    else if (kind === 'version' && name) version = name;
  }
  return {
    version,
    table: (name) => {
      const columns = tables.get(name);
      return columns ? { has: (column) => columns.has(column) } : undefined;
    },
    clusterAllReplicas,
    clusters: [...clusters].sort(),
  };
}
