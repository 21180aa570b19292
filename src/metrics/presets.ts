/**
 * Curated ClickHouse health views over the metrics ClickHouse exports to Prometheus (its /metrics endpoint:
 * ClickHouseMetrics_* gauges, ClickHouseProfileEvents_* counters, ClickHouseAsyncMetrics_*), one PromQL each, per
 * instance, for `byoc metrics range SERVICE --preset NAME`.
 */
export interface MetricsPreset {
  name: string;
  description: string;
  promql: string;
}

export const METRICS_PRESETS: readonly MetricsPreset[] = [
  { name: 'memory', description: 'memory the server tracks for queries, merges and caches (bytes): a climb to the limit precedes MEMORY_LIMIT_EXCEEDED', promql: 'max by (instance) (ClickHouseMetrics_MemoryTracking)' },
  { name: 'merges', description: 'background merges running now: a long plateau at the pool size means merges cannot keep up with inserts', promql: 'sum by (instance) (ClickHouseMetrics_Merge)' },
  { name: 'parts', description: 'the most active parts in one partition: near parts_to_delay_insert (150) inserts slow down, at parts_to_throw_insert they fail', promql: 'max by (instance) (ClickHouseAsyncMetrics_MaxPartCountForPartition)' },
  { name: 'replication-delay', description: 'how far the most lagging replicated table is behind (seconds): growing means its replication queue is stuck', promql: 'max by (instance) (ClickHouseAsyncMetrics_ReplicasMaxAbsoluteDelay)' },
  { name: 'query-rate', description: 'queries started per second (select and insert together): a drop or a spike next to the other views tells load from fault', promql: 'sum by (instance) (rate(ClickHouseProfileEvents_Query[5m]))' },
  { name: 'errors', description: 'failed queries per second: exceptions the server raised, such as memory limits, timeouts and missing tables', promql: 'sum by (instance) (rate(ClickHouseProfileEvents_FailedQuery[5m]))' },
  { name: 'disk', description: 'free bytes per disk of the server: merges need room for a part twice over', promql: 'min by (instance, __name__) ({__name__=~"ClickHouseAsyncMetrics_DiskAvailable_.*"})' },
  { name: 'keeper-sessions', description: 'open ZooKeeper/Keeper sessions: 0 means replicated tables are read-only', promql: 'sum by (instance) (ClickHouseMetrics_ZooKeeperSession)' },
];

export function findMetricsPreset(name: string): MetricsPreset | undefined {
  return METRICS_PRESETS.find((preset) => preset.name === name);
}
