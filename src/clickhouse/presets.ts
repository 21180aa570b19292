/**
 * Curated diagnostics on system tables, run with `byoc query --preset <name>`. Each passes the
 * guard (a test checks it). Column names are those of current ClickHouse; where it costs nothing
 * they also exist on old (18.x/19.x) servers, which some BYOC customers still run.
 *
 * query_log.type: it has been Enum8('QueryStart' = 1, 'QueryFinish' = 2,
 * 'ExceptionBeforeStart' = 3, 'ExceptionWhileProcessing' = 4) since 19.13 (ClickHouse PR 6265);
 * before that it was a UInt8 with the same numbers. `type = 'QueryFinish'` fails on a UInt8
 * column (a number cannot be compared with a string), so the presets compare
 * CAST(type, 'Int8'), which gives the enum's number on new servers (the documented way to read
 * an Enum's value) and the plain number on old ones.
 */

export interface Preset {
  /** kebab-case, used on the command line. */
  name: string;
  /** One line: what the preset shows and when to reach for it. */
  description: string;
  sql: string;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'parts',
    description: 'Active parts, rows and disk usage per table, largest first: too many parts, or where the space went.',
    sql: `SELECT
    database,
    table,
    count() AS parts,
    sum(rows) AS rows,
    formatReadableSize(sum(bytes_on_disk)) AS on_disk,
    formatReadableSize(sum(data_uncompressed_bytes)) AS uncompressed,
    max(modification_time) AS last_modified
FROM system.parts
WHERE active
GROUP BY database, table
ORDER BY sum(bytes_on_disk) DESC
LIMIT 50`,
  },
  {
    name: 'merges',
    description: 'Merges running now, longest first, with progress, size and memory.',
    sql: `SELECT
    database,
    table,
    round(elapsed, 1) AS elapsed_s,
    round(progress * 100, 1) AS progress_pct,
    num_parts,
    result_part_name,
    formatReadableSize(total_size_bytes_compressed) AS size,
    formatReadableSize(memory_usage) AS memory
FROM system.merges
ORDER BY elapsed DESC`,
  },
  {
    name: 'mutations',
    description: 'Mutations not finished yet, oldest first, with the parts left and why the last attempt failed.',
    sql: `SELECT
    database,
    table,
    mutation_id,
    command,
    create_time,
    parts_to_do,
    latest_fail_reason
FROM system.mutations
WHERE NOT is_done
ORDER BY create_time`,
  },
  {
    name: 'replication-queue',
    description: 'Replication tasks waiting or retrying, oldest first, with their last error and why they are postponed.',
    sql: `SELECT
    database,
    table,
    type,
    new_part_name,
    create_time,
    num_tries,
    last_exception,
    postpone_reason
FROM system.replication_queue
ORDER BY create_time
LIMIT 100`,
  },
  {
    // total_replicas / active_replicas / log_* are left out: they cost a Keeper round trip per
    // table, which makes the query slow on servers with many replicated tables.
    name: 'replica-delays',
    description: 'Replicated tables by replication lag, with queue sizes and read-only or expired Keeper sessions.',
    sql: `SELECT
    database,
    table,
    absolute_delay,
    queue_size,
    inserts_in_queue,
    merges_in_queue,
    is_readonly,
    is_session_expired,
    last_queue_update
FROM system.replicas
ORDER BY absolute_delay DESC, queue_size DESC`,
  },
  {
    name: 'errors',
    description: 'Errors the server has counted since it started, most recent first, with the last message.',
    sql: `SELECT
    name,
    code,
    value AS count,
    last_error_time,
    last_error_message
FROM system.errors
WHERE value > 0
ORDER BY last_error_time DESC`,
  },
  {
    name: 'slow-queries',
    description: 'The slowest queries that finished in the last hour, with rows and bytes read and peak memory.',
    sql: `SELECT
    event_time,
    query_duration_ms,
    read_rows,
    formatReadableSize(read_bytes) AS read,
    formatReadableSize(memory_usage) AS memory,
    user,
    query_id,
    substring(query, 1, 200) AS query_head
FROM system.query_log
WHERE event_date >= yesterday()
    AND event_time > now() - INTERVAL 1 HOUR
    AND CAST(type, 'Int8') = 2
ORDER BY query_duration_ms DESC
LIMIT 20`,
  },
  {
    name: 'failed-queries',
    description: 'Queries that failed in the last hour (before or while running), newest first, with the error.',
    sql: `SELECT
    event_time,
    type,
    user,
    query_id,
    substring(exception, 1, 300) AS error,
    substring(query, 1, 200) AS query_head
FROM system.query_log
WHERE event_date >= yesterday()
    AND event_time > now() - INTERVAL 1 HOUR
    AND CAST(type, 'Int8') IN (3, 4)
ORDER BY event_time DESC
LIMIT 50`,
  },
  {
    name: 'processes',
    description: 'Queries running now, longest first, with their user, rows read and memory.',
    sql: `SELECT
    query_id,
    user,
    round(elapsed, 1) AS elapsed_s,
    read_rows,
    formatReadableSize(memory_usage) AS memory,
    is_initial_query,
    substring(query, 1, 200) AS query_head
FROM system.processes
ORDER BY elapsed DESC`,
  },
  {
    name: 'disks',
    description: 'Free and total space of every disk the server stores data on.',
    sql: `SELECT
    name,
    path,
    formatReadableSize(free_space) AS free,
    formatReadableSize(total_space) AS total,
    round(100 * (1 - free_space / total_space), 1) AS used_pct,
    formatReadableSize(keep_free_space) AS reserved
FROM system.disks
ORDER BY name`,
  },
  {
    name: 'settings-changed',
    description: 'Settings whose value differs from the default for this session (profile and user overrides).',
    sql: `SELECT
    name,
    value,
    description
FROM system.settings
WHERE changed
ORDER BY name`,
  },
  {
    name: 'dictionaries',
    description: 'Dictionaries with their load status, size and last error (metadata only: no dictionary data is read).',
    sql: `SELECT
    database,
    name,
    status,
    element_count,
    formatReadableSize(bytes_allocated) AS memory,
    last_successful_update_time,
    last_exception
FROM system.dictionaries
ORDER BY last_exception = '', database, name`,
  },
  {
    name: 'distribution-queue',
    description: 'Distributed tables with data still waiting to be sent to other shards, and why sending fails.',
    sql: `SELECT
    database,
    table,
    is_blocked,
    error_count,
    data_files,
    formatReadableSize(data_compressed_bytes) AS pending,
    last_exception
FROM system.distribution_queue
WHERE data_files > 0 OR error_count > 0
ORDER BY data_files DESC`,
  },
];

/** The preset with this name (case-insensitive), or undefined. */
export function findPreset(name: string): Preset | undefined {
  const wanted = name.trim().toLowerCase();
  return PRESETS.find((preset) => preset.name === wanted);
}
