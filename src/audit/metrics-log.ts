/**
 * `byoc audit metrics`: the customer's side of metrics access. The proxy in front of Prometheus (the sandbox's
 * nginx, or the customer's own with the same log format) writes one JSON object per call; this reads them and
 * sums them up per request and engineer. The request comes from the certificate (its OU urn:byoc:request:<id>),
 * never from the X-Byoc-Request header alone, which any client could set: a header naming another request is
 * a finding.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError } from '../errors.js';

/** One line of the metrics log (nginx's `byoc_metrics` format, src/sandbox/render.ts). */
export interface MetricsLogEntry {
  time: string;
  method: string;
  /** the path as nginx saw it after normalising (what the allowlist was checked against) */
  path: string;
  /** the path as the client sent it */
  uri: string;
  status: number;
  /** SUCCESS, NONE (no certificate) or FAILED:<reason> (e.g. certificate revoked) */
  verify: string;
  dn: string;
  /** the request id in the certificate's subject */
  request: string;
  /** the request id when the certificate passed the metrics mapping, else empty */
  granted: string;
  /** the X-Byoc-Request header the client sent */
  header: string;
}

export interface MetricsRequestSummary {
  /** from the certificate; empty for calls without a byoc certificate */
  requestId: string;
  engineer: string;
  calls: number;
  /** refused by the proxy: no certificate, a failed one (revoked, expired), no metrics grant, or a path outside the allowlist */
  refusals: number;
  /** answered by Prometheus with an error (a bad query, a timeout) */
  errors: number;
  /** calls per endpoint (the normalised path), refused ones included */
  endpoints: Record<string, number>;
  first: string;
  last: string;
}

export interface MetricsFinding {
  kind: 'header_mismatch' | 'refused_path' | 'refused_certificate';
  requestId: string;
  engineer: string;
  time: string;
  detail: string;
}

export interface MetricsAuditReport {
  source: string;
  since: string;
  until: string;
  calls: number;
  refusals: number;
  requests: MetricsRequestSummary[];
  findings: MetricsFinding[];
  /** lines that were not a metrics log entry (another log format, a torn line) */
  skipped: number;
}

/** Whether the proxy (not Prometheus) refused the call. */
export function refusedByProxy(entry: Pick<MetricsLogEntry, 'status' | 'verify' | 'granted'>): boolean {
  return entry.verify !== 'SUCCESS' || entry.granted === '' || entry.status === 403;
}

/** The CN of an RFC 2253 subject as nginx prints it (`OU=urn:byoc:request:r-...,CN=alice@vendor.example`). */
export function engineerOf(dn: string): string {
  return /(?:^|,)CN=([^,]*)/.exec(dn)?.[1] ?? '';
}

export function parseMetricsLine(line: string): MetricsLogEntry | undefined {
  if (!line.startsWith('{')) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const text = (name: string) => (typeof raw[name] === 'string' ? (raw[name]) : undefined);
  const time = text('time');
  const path = text('path');
  if (time === undefined || path === undefined || typeof raw.status !== 'number' || Number.isNaN(Date.parse(time))) return undefined;
  return {
    time,
    method: text('method') ?? '',
    path,
    uri: text('uri') ?? path,
    status: raw.status,
    verify: text('verify') ?? '',
    dn: text('dn') ?? '',
    request: text('request') ?? '',
    granted: text('granted') ?? '',
    header: text('header') ?? '',
  };
}

/** Sums up entries from `since` to `until` (epoch ms) per request and engineer, with the findings. */
export function summarize(entries: Iterable<MetricsLogEntry>, window: { since: number; until: number }): Omit<MetricsAuditReport, 'source' | 'skipped'> {
  const byRequest = new Map<string, MetricsRequestSummary>();
  const findings: MetricsFinding[] = [];
  let calls = 0;
  let refusals = 0;
  for (const entry of entries) {
    const at = Date.parse(entry.time);
    if (at < window.since || at >= window.until) continue;
    const engineer = engineerOf(entry.dn);
    const key = `${entry.request}\u0000${engineer}`;
    let summary = byRequest.get(key);
    if (!summary) {
      summary = { requestId: entry.request, engineer, calls: 0, refusals: 0, errors: 0, endpoints: {}, first: entry.time, last: entry.time };
      byRequest.set(key, summary);
    }
    const refused = refusedByProxy(entry);
    calls++;
    summary.calls++;
    summary.endpoints[entry.path] = (summary.endpoints[entry.path] ?? 0) + 1;
    if (refused) {
      refusals++;
      summary.refusals++;
    } else if (entry.status >= 400) {
      summary.errors++;
    }
    if (Date.parse(summary.first) > at) summary.first = entry.time;
    if (Date.parse(summary.last) < at) summary.last = entry.time;
    const finding = (kind: MetricsFinding['kind'], detail: string) => findings.push({ kind, requestId: entry.request, engineer, time: entry.time, detail });
    if (entry.header && entry.header !== entry.request) finding('header_mismatch', `X-Byoc-Request: ${entry.header} on a certificate for ${entry.request || 'no request'}`);
    if (entry.verify !== 'SUCCESS' && entry.verify !== 'NONE') finding('refused_certificate', `${entry.method} ${entry.path}: ${entry.verify}`);
    else if (entry.verify === 'SUCCESS' && entry.granted !== '' && entry.status === 403) finding('refused_path', `${entry.method} ${entry.uri} is outside the read allowlist`);
  }
  const requests = [...byRequest.values()].sort((a, b) => a.first.localeCompare(b.first) || a.requestId.localeCompare(b.requestId));
  return { since: new Date(window.since).toISOString(), until: new Date(window.until).toISOString(), calls, refusals, requests, findings };
}

/** Reads a metrics log line by line and sums up the calls in the window. */
export async function auditMetricsLog(file: string, window: { since: number; until: number }): Promise<MetricsAuditReport> {
  let skipped = 0;
  const entries: MetricsLogEntry[] = [];
  const stream = createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError('metrics_log_unreadable', `cannot read the metrics log ${file}${code ? ` (${code})` : ''}`, {
      hint: code === 'ENOENT' ? 'Start the sandbox (byoc sandbox up) and make a metrics call, or name your proxy\'s log with --log FILE.' : 'Check the file\'s permissions, or name another with --log FILE.',
    });
  }
  // Entries outside the window are dropped as they are read; the ones kept are per call, not per byte.
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const entry = parseMetricsLine(line);
    if (!entry) {
      skipped++;
      continue;
    }
    const at = Date.parse(entry.time);
    if (at >= window.since && at < window.until) entries.push(entry);
  }
  return { source: file, ...summarize(entries, window), skipped };
}

/** The report as text: one row per request and engineer, then the findings. */
export function metricsReportText(report: MetricsAuditReport): string {
  const rows = [['request', 'engineer', 'calls', 'refusals', 'errors', 'first', 'last', 'endpoints']];
  for (const request of report.requests) {
    const endpoints = Object.entries(request.endpoints)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([path, count]) => `${path} ${count}`)
      .join(', ');
    rows.push([request.requestId || '(no certificate)', request.engineer || '-', String(request.calls), String(request.refusals), String(request.errors), request.first, request.last, endpoints]);
  }
  const lines = [
    `metrics calls in ${report.source} from ${report.since} to ${report.until}: ${report.calls} (${report.refusals} refused at the proxy)`,
    ...rows.map((row) => row.join('\t')),
  ];
  if (report.findings.length) {
    lines.push('', `findings: ${report.findings.length}`);
    for (const finding of report.findings) lines.push([finding.kind, finding.requestId || '-', finding.engineer || '-', finding.time, finding.detail].join('\t'));
  }
  if (report.skipped) lines.push('', `${report.skipped} line(s) were not metrics log entries and were skipped`);
  return lines.join('\n');
}
