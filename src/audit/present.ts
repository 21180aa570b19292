import { tsv } from '../command.js';
import type { AuditReport, Finding, QueryRow } from './audit.js';

export function rowCells(row: QueryRow): unknown[] {
  return [row.time, row.engineer, row.requestId ?? '', row.queryId, row.type, row.readRows, row.readBytes, row.durationMs, row.error ?? '', row.query.replace(/\s+/g, ' ')];
}

export function csvLine(cells: readonly unknown[]): string {
  return cells.map((cell) => `"${String(cell ?? '').replace(/"/g, '""')}"`).join(',');
}

export const CSV_HEADER = ['time', 'engineer', 'requestId', 'queryId', 'type', 'readRows', 'readBytes', 'durationMs', 'error', 'query'];

function findingText(finding: Finding): unknown[] {
  return ['finding', finding.kind, finding.row.time, finding.row.engineer, finding.row.requestId ?? '', finding.row.queryId, finding.detail];
}

/** Findings first, then per request and per engineer, tab-separated. */
export function reportText(report: AuditReport, findingsOnly: boolean): string {
  const rows: unknown[][] = report.findings.map(findingText);
  if (!findingsOnly) {
    rows.push(...report.requests.map((request) => ['request', request.requestId ?? '(untagged)', request.engineers.join(','), request.first, request.last, request.queries, request.failures, request.denied, request.readRows, request.readBytes]));
    rows.push(...report.engineers.map((engineer) => ['engineer', engineer.engineer, engineer.requests.map((id) => id ?? '(untagged)').join(','), engineer.first, engineer.last, engineer.queries, engineer.failures, engineer.denied, engineer.readRows, engineer.readBytes]));
  }
  return tsv(rows);
}
