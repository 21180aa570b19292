/**
 * Curated diagnostics on system tables, run with `byoc query --preset <name>`. Each passes the
 * guard (a test checks it). A preset is a function of the server's schema (src/clickhouse/preset-schema.ts):
 * columns that came later (mutations.latest_fail_reason, dictionaries.status) are shown where the server has
 * them, and a system table the server does not have yet (system.errors, system.disks,
 * system.distribution_queue on 18.x) gives an empty result and a note instead of a server exception. Some
 * BYOC customers still run 18.x/19.x; the sandbox is 18.16.
 *
 * query_log.type: it has been Enum8('QueryStart' = 1, 'QueryFinish' = 2,
 * 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4) since 19.13 (ClickHouse PR 6265);
 * before that it was a UInt8 with the same numbers. `type = 'QueryFinish'` fails on a UInt8
 * column (a number cannot be compared with a string), so the presets compare
 * CAST(type, 'Int8'), which gives the enum's number on new servers (the documented way to read
 * an Enum's value) and the plain number on old ones.
 */

import { UsageError } from '../errors.js';
import { CURRENT_SCHEMA, type ServerSchema, type TableColumns } from './preset-schema.js';

export interface Preset {
  /** kebab-case, used on the command line. */
  name: string;
  /** One line: what the preset shows and when to reach for it. */
  description: string;
  /** The system table it reads (without `system.`). */
  table: string;
  /** Reads every replica of `--cluster` through clusterAllReplicas. */
  replicas?: boolean;
  /** The SQL for a server whose table has these columns, reading `from` (system.X or clusterAllReplicas(...)). */
  render(columns: TableColumns, from: string): string;
}

/** A column (or `expression AS column`) shown only where the server has the column. */
type Column = string | { when: string; show: string };

function columnList(columns: TableColumns, list: readonly Column[]): string {
  const shown = list.flatMap((column) => (typeof column === 'string' ? [column] : columns.has(column.when) ? [column.show] : []));
  return shown.map((column) => `    ${column}`).join(',\n');
}

/** What the replica-delay presets show of each replicated table, on one server or on every replica. */
const REPLICA_DELAY_COLUMNS = ['database', 'table', 'absolute_delay', 'queue_size', 'inserts_in_queue', 'merges_in_queue', 'is_readonly', 'is_session_expired', 'last_queue_update'].join(',\n    ');

/** What the replication-queue presets show of each task, on one server or on every replica. */
const REPLICATION_QUEUE_COLUMNS = ['database', 'table', 'type', 'new_part_name', 'create_time', 'num_tries', 'last_exception', 'postpone_reason'].join(',\n    ');

export const PRESETS: readonly Preset[] = [
  {
    name: 'parts',
    description: 'Active parts, rows and disk usage per table, largest first: too many parts, or where the space went.',
    table: 'parts',
    render: (_columns, from) => `SELECT
    database,
    table,
    count() AS parts,
    sum(rows) AS rows,
    formatReadableSize(sum(bytes_on_disk)) AS on_disk,
    formatReadableSize(sum(data_uncompressed_bytes)) AS uncompressed,
    max(modification_time) AS last_modified
FROM ${from}
WHERE active
GROUP BY database, table
ORDER BY sum(bytes_on_disk) DESC
LIMIT 50`,
  },
  {
    name: 'merges',
    description: 'Merges running now, longest first, with progress, size and memory.',
    table: 'merges',
    render: (_columns, from) => `SELECT
    database,
    table,
    round(elapsed, 1) AS elapsed_s,
    round(progress * 100, 1) AS progress_pct,
    num_parts,
    result_part_name,
    formatReadableSize(total_size_bytes_compressed) AS size,
    formatReadableSize(memory_usage) AS memory
FROM ${from}
ORDER BY elapsed DESC`,
  },
  {
    // latest_fail_* came after 18.16: there, only the parts left tell a stuck mutation
    name: 'mutations',
    description: 'Mutations not finished yet, oldest first, with the parts left and why the last attempt failed.',
    table: 'mutations',
    render: (columns, from) => `SELECT
${columnList(columns, ['database', 'table', 'mutation_id', 'command', 'create_time', 'parts_to_do', { when: 'latest_fail_time', show: 'latest_fail_time' }, { when: 'latest_fail_reason', show: 'latest_fail_reason' }])}
FROM ${from}
WHERE NOT is_done
ORDER BY create_time`,
  },
  {
    name: 'replication-queue',
    description: 'Replication tasks waiting or retrying, oldest first, with their last error and why they are postponed.',
    table: 'replication_queue',
    render: (_columns, from) => `SELECT
    ${REPLICATION_QUEUE_COLUMNS}
FROM ${from}
ORDER BY create_time
LIMIT 100`,
  },
  {
    // total_replicas / active_replicas / log_* are left out: they cost a Keeper round trip per
    // table, which makes the query slow on servers with many replicated tables.
    name: 'replica-delays',
    description: 'Replicated tables by replication lag, with queue sizes and read-only or expired Keeper sessions.',
    table: 'replicas',
    render: (_columns, from) => `SELECT
    ${REPLICA_DELAY_COLUMNS}
FROM ${from}
ORDER BY absolute_delay DESC, queue_size DESC`,
  },
  {
    // the first system.errors had name, code and value only; the last error's time and message came later
    name: 'errors',
    description: 'Errors the server has counted since it started, most recent first, with the last message.',
    table: 'errors',
    render: (columns, from) => `SELECT
${columnList(columns, ['name', 'code', 'value AS count', { when: 'last_error_time', show: 'last_error_time' }, { when: 'last_error_message', show: 'last_error_message' }])}
FROM ${from}
WHERE value > 0
ORDER BY ${columns.has('last_error_time') ? 'last_error_time DESC' : 'value DESC'}`,
  },
  {
    name: 'slow-queries',
    description: 'The slowest queries that finished in the last hour, with rows and bytes read and peak memory.',
    table: 'query_log',
    render: (_columns, from) => `SELECT
    event_time,
    query_duration_ms,
    read_rows,
    formatReadableSize(read_bytes) AS read,
    formatReadableSize(memory_usage) AS memory,
    user,
    query_id,
    substring(query, 1, 200) AS query_head
FROM ${from}
WHERE event_date >= yesterday()
    AND event_time > now() - INTERVAL 1 HOUR
    AND CAST(type, 'Int8') = 2
ORDER BY query_duration_ms DESC
LIMIT 20`,
  },
  {
    name: 'failed-queries',
    description: 'Queries that failed in the last hour (before or while running), newest first, with the error.',
    table: 'query_log',
    render: (_columns, from) => `SELECT
    event_time,
    type,
    user,
    query_id,
    substring(exception, 1, 300) AS error,
    substring(query, 1, 200) AS query_head
FROM ${from}
WHERE event_date >= yesterday()
    AND event_time > now() - INTERVAL 1 HOUR
    AND CAST(type, 'Int8') IN (3, 4)
ORDER BY event_time DESC
LIMIT 50`,
  },
  {
    name: 'processes',
    description: 'Queries running now, longest first, with their user, rows read and memory.',
    table: 'processes',
    render: (_columns, from) => `SELECT
    query_id,
    user,
    round(elapsed, 1) AS elapsed_s,
    read_rows,
    formatReadableSize(memory_usage) AS memory,
    is_initial_query,
    substring(query, 1, 200) AS query_head
FROM ${from}
ORDER BY elapsed DESC`,
  },
  {
    name: 'disks',
    description: 'Free and total space of every disk the server stores data on.',
    table: 'disks',
    render: (columns, from) => `SELECT
${columnList(columns, [
  'name',
  { when: 'type', show: 'type' },
  'path',
  'formatReadableSize(free_space) AS free',
  'formatReadableSize(total_space) AS total',
  'round(100 * (1 - free_space / total_space), 1) AS used_pct',
  'formatReadableSize(keep_free_space) AS reserved',
])}
FROM ${from}
ORDER BY name`,
  },
  {
    name: 'settings-changed',
    description: 'Settings whose value differs from the default for this session (profile and user overrides).',
    table: 'settings',
    render: (_columns, from) => `SELECT
    name,
    value,
    description
FROM ${from}
WHERE changed
ORDER BY name`,
  },
  {
    // database, status and last_successful_update_time came after 18.16, whose creation_time is the last load
    name: 'dictionaries',
    description: 'Dictionaries with their load status, size and last error (metadata only: no dictionary data is read).',
    table: 'dictionaries',
    render: (columns, from) => `SELECT
${columnList(columns, [
  { when: 'database', show: 'database' },
  'name',
  { when: 'status', show: 'status' },
  'element_count',
  'formatReadableSize(bytes_allocated) AS memory',
  columns.has('last_successful_update_time') ? 'last_successful_update_time' : 'creation_time AS loaded_at',
  'last_exception',
])}
FROM ${from}
ORDER BY last_exception = '', ${columns.has('database') ? 'database, ' : ''}name`,
  },
  {
    name: 'distribution-queue',
    description: 'Distributed tables with data still waiting to be sent to other shards, and why sending fails.',
    table: 'distribution_queue',
    render: (columns, from) => `SELECT
${columnList(columns, [
  'database',
  'table',
  'is_blocked',
  'error_count',
  'data_files',
  'formatReadableSize(data_compressed_bytes) AS pending',
  { when: 'broken_data_files', show: 'broken_data_files' },
  'last_exception',
  { when: 'last_exception_time', show: 'last_exception_time' },
])}
FROM ${from}
WHERE data_files > 0 OR error_count > 0
ORDER BY data_files DESC`,
  },
  {
    // a replicated deployment keeps its system tables per node: one replica's queue says nothing of the others
    name: 'cluster-replication-queue',
    description: 'The replication queue of every replica of --cluster, oldest first, with the host, last error and postponement.',
    table: 'replication_queue',
    replicas: true,
    render: (_columns, from) => `SELECT
    hostName() AS host,
    ${REPLICATION_QUEUE_COLUMNS}
FROM ${from}
ORDER BY create_time
LIMIT 200`,
  },
  {
    name: 'cluster-replica-delays',
    description: 'Replication lag of every replicated table on every replica of --cluster, worst first, per host.',
    table: 'replicas',
    replicas: true,
    render: (_columns, from) => `SELECT
    hostName() AS host,
    ${REPLICA_DELAY_COLUMNS}
FROM ${from}
ORDER BY absolute_delay DESC, queue_size DESC
LIMIT 500`,
  },
  {
    name: 'cluster-parts',
    description: 'Active parts, rows and disk usage per table on every replica of --cluster: replicas that disagree.',
    table: 'parts',
    replicas: true,
    render: (_columns, from) => `SELECT
    database,
    table,
    hostName() AS host,
    count() AS parts,
    sum(rows) AS rows,
    formatReadableSize(sum(bytes_on_disk)) AS on_disk
FROM ${from}
WHERE active
GROUP BY database, table, host
ORDER BY database, table, host
LIMIT 1000`,
  },
];

/** The preset with this name (case-insensitive), or undefined. */
export function findPreset(name: string): Preset | undefined {
  const wanted = name.trim().toLowerCase();
  return PRESETS.find((preset) => preset.name === wanted);
}

/** The system tables the presets read, for one schema query. */
export function presetTables(presets: readonly Preset[]): string[] {
  return [...new Set(presets.map((preset) => preset.table))];
}

export interface RenderedPreset {
  sql: string;
  /** what the person should know about this rendering (stderr): a missing table, one server instead of all */
  notes: string[];
}

/** What `byoc query presets` shows for the cluster name of replica presets. */
const CLUSTER_PLACEHOLDER = 'CLUSTER';

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The preset's SQL for this server. A table the server does not have renders as an empty SELECT on system.one
 * (the output keeps its shape in every format, exit 0) with a note; a replica preset on a server before
 * clusterAllReplicas reads this server's table, and says so.
 */
export function renderPreset(preset: Preset, schema: ServerSchema = CURRENT_SCHEMA, options: { cluster?: string | undefined } = {}): RenderedPreset {
  const server = schema.version ? `this server (ClickHouse ${schema.version})` : 'this server';
  const columns = schema.table(preset.table);
  if (!columns) {
    return {
      sql: `SELECT 'system.${preset.table}' AS missing_table FROM system.one WHERE 0`,
      notes: [`${server} has no system.${preset.table} (a later ClickHouse added it): preset ${preset.name} has nothing to show here`],
    };
  }
  const local = `system.${preset.table}`;
  if (!preset.replicas) return { sql: preset.render(columns, local), notes: [] };
  const cluster = options.cluster ?? CLUSTER_PLACEHOLDER;
  if (!schema.clusterAllReplicas) {
    return { sql: preset.render(columns, local), notes: [`${server} has no clusterAllReplicas (a later ClickHouse added it): showing this server's ${local} only`] };
  }
  if (schema.version !== undefined && !schema.clusters.includes(cluster)) {
    throw new UsageError('cluster_unknown', `${server} has no cluster named "${cluster}" in system.clusters`, {
      hint: schema.clusters.length
        ? `Clusters there: ${schema.clusters.join(', ')}. Pass one: --preset ${preset.name} --cluster ${schema.clusters[0]}`
        : `It has no clusters at all (remote_servers is empty): use --preset ${preset.name.replace(/^cluster-/, '')} to read this server only.`,
    });
  }
  return { sql: preset.render(columns, `clusterAllReplicas(${quote(cluster)}, ${local})`), notes: [] };
}
