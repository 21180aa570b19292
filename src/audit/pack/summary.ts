import type { AuditReport, QueryRow } from '../audit.js';

interface Totals {
  first: string;
  last: string;
  queries: number;
  failures: number;
  /** refusals: the server's authorization and read-only refusals (the `denied` findings' codes) */
  refusals: number;
  readRows: number;
  readBytes: number;
  /** the tables the queries named, sorted */
  tablesTouched: string[];
}

export interface PackSummary {
  service: string;
  source: string;
  window: { since: string; until: string };
  totals: { queries: number; findings: number; requests: number; engineers: number };
  findingsByKind: Record<string, number>;
  requests: (Totals & { requestId: string | null; engineers: string[]; grant?: { from: string; to: string } | undefined })[];
  engineers: (Totals & { engineer: string; users: string[]; requests: (string | null)[] })[];
}

/**
 * summary.json: the audit's per-request and per-engineer totals (computed by the server) with the tables each
 * touched, read from the events (their `tables` column, else the query text through the SQL guard's extractor,
 * as the audit does on servers without that column).
 */
export function packSummary(service: string, report: AuditReport, events: readonly QueryRow[], tablesOf: (row: QueryRow) => string[]): PackSummary {
  const touched = (match: (row: QueryRow) => boolean) => [...new Set(events.filter(match).flatMap(tablesOf))].sort();
  const findingsByKind: Record<string, number> = {};
  for (const finding of report.findings) findingsByKind[finding.kind] = (findingsByKind[finding.kind] ?? 0) + 1;
  const totals = ({ first, last, queries, failures, denied, readRows, readBytes }: Omit<AuditReport['requests'][number], 'requestId' | 'engineers' | 'grant'>) => ({ first, last, queries, failures, refusals: denied, readRows, readBytes });
  return {
    service,
    source: report.source,
    window: report.window,
    totals: { queries: events.length, findings: report.findings.length, requests: report.requests.length, engineers: report.engineers.length },
    findingsByKind,
    requests: report.requests.map((request) => ({
      requestId: request.requestId,
      engineers: request.engineers,
      ...totals(request),
      tablesTouched: touched((row) => row.requestId === request.requestId),
      ...(request.grant ? { grant: request.grant } : {}),
    })),
    engineers: report.engineers.map((engineer) => ({
      engineer: engineer.engineer,
      users: engineer.users,
      requests: engineer.requests,
      ...totals(engineer),
      tablesTouched: touched((row) => row.engineer === engineer.engineer),
    })),
  };
}
