import type { AccessRequest } from '../access/types.js';
import { extractTables } from '../clickhouse/guard.js';
import type { AuditReport, Finding, QueryRow } from './audit.js';

export interface ReportHtmlInput {
  service: string;
  window: { since: string; until: string };
  summary: AuditReport;
  /** every engineer query row the pack used (events.ndjson) */
  events: readonly QueryRow[];
  grants?: readonly AccessRequest[] | undefined;
}

/**
 * The page is read offline by people who did not produce it, possibly from an untrusted pack: nothing may load or
 * run. No script at all, and the policy says so to the browser as well, so a text that escaped escaping still could not.
 */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid #d7dce5;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 4px}.muted{color:#5b6475}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}th,td{border:1px solid #d7dce5;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid #d7dce5;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}.bad{color:#b3261e}.card.bad{border-color:#b3261e;background:#fdecea}
code{font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.kind{display:inline-block;padding:0 6px;border-radius:4px;background:#fdecea;color:#b3261e;font-weight:600}
svg{display:block;margin:6px 0;max-width:100%}.legend span{margin-right:14px}
`;

/** HTML-escapes a text for element content and double- or single-quoted attributes. */
export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

/** Thousands with a thin separator, fixed whatever the machine's locale: the page is evidence and must render the same. */
function count(value: number): string {
  return String(Math.round(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let index = 0;
  let scaled = value;
  while (scaled >= 1024 && index < units.length - 1) {
    scaled /= 1024;
    index++;
  }
  return index === 0 ? `${value} B` : `${scaled.toFixed(1)} ${units[index]}`;
}

/**
 * The statement's first keyword (SELECT, SHOW, INSERT...), past leading comments and parentheses. Only the kind is
 * needed here, and the guard's parser exposes no statement kind; a first-word read is the whole job.
 */
export function queryKind(text: string): string {
  const match = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*([A-Za-z]+)/.exec(text);
  return match ? match[1]!.toUpperCase() : 'OTHER';
}

/** The tables a row touched: the server's list where it logs one, else the guard's extractor over the text (18.x, 19.x). */
function tablesOf(row: QueryRow, parsed: Map<string, string[]>): string[] {
  if (row.tables.length) return row.tables;
  // an engineer repeats the same few queries: parse each text once
  let tables = parsed.get(row.query);
  if (!tables) parsed.set(row.query, (tables = extractTables(row.query)));
  return tables;
}

function top(values: Iterable<string>, limit: number): [string, number][] {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, limit);
}

interface Window {
  from: number;
  to: number;
  /** where the window was read from, for the reader */
  source: string;
}

/** The approved window: the grant as the broker holds it (ended early by a revocation), else the one the audit used. */
function approvedWindow(requestId: string | null, summary: AuditReport, grants: readonly AccessRequest[]): Window | undefined {
  if (!requestId) return undefined;
  const grant = grants.find((entry) => entry.id === requestId);
  if (grant?.approvedAt && grant.notAfter) {
    const to = Math.min(Date.parse(grant.notAfter), grant.revokedAt ? Date.parse(grant.revokedAt) : Infinity);
    return { from: Date.parse(grant.approvedAt), to, source: grant.revokedAt ? 'approved, revoked early' : 'approved' };
  }
  const known = summary.requests.find((entry) => entry.requestId === requestId)?.grant;
  return known ? { from: Date.parse(known.from), to: Date.parse(known.to), source: 'approved' } : undefined;
}

function outside(row: QueryRow, window: Window | undefined): boolean {
  if (!window) return false;
  const time = Date.parse(row.time);
  return time < window.from || time > window.to;
}

const WIDTH = 1100;
const LEFT = 20;
const RIGHT = 20;
const HEIGHT = 86;

/**
 * The engineer's queries on a time axis (inline SVG: no script, no image to load), the approved window as a green
 * band; a query outside it is a red bar, a failed one is drawn short, a refused one with a cross.
 */
function timeline(rows: readonly QueryRow[], window: Window | undefined): string {
  // a loop, not Math.min(...times): a week of queries overflows the call stack as arguments
  let start = window?.from ?? Infinity;
  let end = window?.to ?? -Infinity;
  for (const row of rows) {
    const time = Date.parse(row.time);
    if (time < start) start = time;
    if (time > end) end = time;
  }
  if (!Number.isFinite(start) || !Number.isFinite(end)) return '<p class="muted">No queries.</p>';
  const pad = Math.max((end - start) * 0.03, 30_000);
  const [lo, hi] = [start - pad, end + pad];
  const x = (time: number) => (LEFT + ((time - lo) / (hi - lo)) * (WIDTH - LEFT - RIGHT)).toFixed(1);
  const parts: string[] = [`<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#f7f8fb"/>`];
  if (window) {
    parts.push(
      `<rect x="${x(window.from)}" y="8" width="${(Number(x(window.to)) - Number(x(window.from))).toFixed(1)}" height="50" fill="#e3f4e6" stroke="#3c8d4f"><title>approved window ${escapeHtml(new Date(window.from).toISOString())} to ${escapeHtml(new Date(window.to).toISOString())}</title></rect>`,
    );
  }
  // One mark per drawn position and kind: a million queries make at most a few thousand marks, and a query outside
  // the window is never merged into one inside it.
  const marks = new Map<string, { px: string; kind: 'ok' | 'failed' | 'outside'; first: QueryRow; last: QueryRow; count: number }>();
  for (const row of rows) {
    // whole pixels: finer positions draw the same
    const px = Number(x(Date.parse(row.time))).toFixed(0);
    const kind = outside(row, window) ? 'outside' : row.type === 'finish' ? 'ok' : 'failed';
    const mark = marks.get(`${px} ${kind}`);
    if (mark) {
      mark.count++;
      mark.last = row;
    } else marks.set(`${px} ${kind}`, { px, kind, first: row, last: row, count: 1 });
  }
  for (const { px, kind, first, last, count: times } of marks.values()) {
    const red = kind === 'outside';
    const color = red ? '#b3261e' : kind === 'ok' ? '#2f5fb3' : '#b26a00';
    const what = red ? ' OUTSIDE THE APPROVED WINDOW' : '';
    const label = times === 1 ? `${first.time} ${first.engineer} ${first.type}${what}: ${first.query.slice(0, 300)}` : `${times} queries${what}, ${first.time} to ${last.time}${kind === 'failed' ? ', failed or refused' : ''}`;
    const y1 = first.type === 'finish' ? 14 : 26;
    parts.push(`<line x1="${px}" x2="${px}" y1="${y1}" y2="52" stroke="${color}" stroke-width="${red ? 3 : 2}" data-outside="${red}"><title>${escapeHtml(label)}</title></line>`);
  }
  parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="58" y2="58" stroke="#5b6475"/>`);
  parts.push(`<text x="${LEFT}" y="76" font-size="11" fill="#5b6475">${escapeHtml(new Date(lo).toISOString())}</text>`);
  parts.push(`<text x="${WIDTH - RIGHT}" y="76" font-size="11" fill="#5b6475" text-anchor="end">${escapeHtml(new Date(hi).toISOString())}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="timeline">${parts.join('')}</svg>
<p class="legend muted"><span style="color:#3c8d4f">&#9632; approved window</span><span style="color:#2f5fb3">| query</span><span style="color:#b26a00">| failed or refused</span><span class="bad">| outside the approved window</span></p>`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number> = new Set()): string {
  if (!rows.length) return '<p class="muted">None.</p>';
  const th = head.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('');
  // cells arrive escaped (some carry markup of ours)
  const body = rows.map((row) => `<tr>${row.map((cell, index) => `<td${numeric.has(index) ? ' class="n"' : ''}>${cell}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function findingsTable(findings: readonly Finding[]): string {
  return table(
    ['time', 'finding', 'engineer', 'query id', 'detail', 'query'],
    findings.map((finding) => [
      escapeHtml(finding.row.time),
      `<span class="kind">${escapeHtml(finding.kind)}</span>`,
      escapeHtml(finding.row.engineer),
      `<code>${escapeHtml(finding.row.queryId)}</code>`,
      escapeHtml(finding.detail),
      `<code>${escapeHtml(finding.row.query.slice(0, 500))}</code>`,
    ]),
  );
}

interface Totals {
  queries: number;
  failures: number;
  outside: number;
  readRows: number;
  readBytes: number;
}

function totalsOf(rows: readonly QueryRow[], window: Window | undefined): Totals {
  return {
    queries: rows.length,
    failures: rows.filter((row) => row.type !== 'finish').length,
    outside: rows.filter((row) => outside(row, window)).length,
    readRows: rows.reduce((sum, row) => sum + row.readRows, 0),
    readBytes: rows.reduce((sum, row) => sum + row.readBytes, 0),
  };
}

function cards(entries: readonly [string, string, boolean?][]): string {
  return `<div class="cards">${entries.map(([label, value, bad]) => `<div class="card${bad ? ' bad' : ''}"><b>${escapeHtml(value)}</b>${escapeHtml(label)}</div>`).join('')}</div>`;
}

function requestSection(requestId: string | null, rows: readonly QueryRow[], input: ReportHtmlInput, parsed: Map<string, string[]>): string {
  const window = approvedWindow(requestId, input.summary, input.grants ?? []);
  const summary = input.summary.requests.find((entry) => entry.requestId === requestId);
  const findings = input.summary.findings.filter((finding) => finding.row.requestId === requestId);
  const totals = totalsOf(rows, window);
  const engineers = summary?.engineers ?? [...new Set(rows.map((row) => row.engineer))];
  const grant = requestId ? input.grants?.find((entry) => entry.id === requestId) : undefined;
  const title = requestId ? `Request ${requestId}` : 'Queries without a request';
  const windowText = window
    ? `${new Date(window.from).toISOString()} to ${new Date(window.to).toISOString()} (${window.source})`
    : requestId
      ? 'no approved window known to this report: queries not checked against one'
      : 'no request tag: no approved window applies';
  return `<section data-request="${escapeHtml(requestId ?? '')}">
<h2>${escapeHtml(title)}</h2>
<p>Engineer${engineers.length === 1 ? '' : 's'}: <b>${escapeHtml(engineers.join(', ') || '(none)')}</b>${grant ? ` &middot; reason: ${escapeHtml(grant.reason)}${grant.ticket ? ` &middot; ticket ${escapeHtml(grant.ticket)}` : ''} &middot; asked by ${escapeHtml(grant.requester)}` : ''}<br>
Approved window: ${escapeHtml(windowText)}</p>
${cards([
  ['queries', count(summary?.queries ?? totals.queries)],
  ['failed', count(summary?.failures ?? totals.failures), (summary?.failures ?? totals.failures) > 0],
  ['refused', count(summary?.denied ?? findings.filter((finding) => finding.kind === 'denied').length), (summary?.denied ?? 0) > 0],
  ['outside the window', count(totals.outside), totals.outside > 0],
  ['findings', count(findings.length), findings.length > 0],
  ['rows read', count(summary?.readRows ?? totals.readRows)],
  ['bytes read', bytes(summary?.readBytes ?? totals.readBytes)],
])}
<h3>Timeline</h3>
${timeline(rows, window)}
<h3>Findings</h3>
${findingsTable(findings)}
<h3>Top tables</h3>
${table(['table', 'queries'], top(rows.flatMap((row) => tablesOf(row, parsed)), 10).map(([name, times]) => [`<code>${escapeHtml(name)}</code>`, count(times)]), new Set([1]))}
<h3>Query kinds</h3>
${table(['kind', 'queries'], top(rows.map((row) => queryKind(row.query)), 10).map(([kind, times]) => [escapeHtml(kind), count(times)]), new Set([1]))}
</section>`;
}

/**
 * report.html of the evidence pack: one self-contained page (inline CSS and SVG, no script, no network) with the
 * totals, then per request a timeline of the engineer's queries against the approved window, its findings, top
 * tables and query kinds. Deterministic: the same input gives the same bytes (the manifest signs them).
 */
export function renderReportHtml(input: ReportHtmlInput): string {
  const { summary, events } = input;
  const byRequest = new Map<string | null, QueryRow[]>();
  const parsed = new Map<string, string[]>();
  // a request with findings but no query (a failed login, say) still gets its section
  for (const requestId of [...summary.requests.map((request) => request.requestId), ...summary.findings.map((finding) => finding.row.requestId)]) {
    if (!byRequest.has(requestId)) byRequest.set(requestId, []);
  }
  for (const row of [...events].sort((a, b) => a.time.localeCompare(b.time))) {
    const rows = byRequest.get(row.requestId);
    if (rows) rows.push(row);
    else byRequest.set(row.requestId, [row]);
  }
  const queries = summary.requests.reduce((sum, request) => sum + request.queries, 0) || events.length;
  const failures = summary.requests.reduce((sum, request) => sum + request.failures, 0);
  const denied = summary.requests.reduce((sum, request) => sum + request.denied, 0);
  const readRows = summary.requests.reduce((sum, request) => sum + request.readRows, 0);
  const readBytes = summary.requests.reduce((sum, request) => sum + request.readBytes, 0);
  const kinds = top(summary.findings.map((finding) => finding.kind), 20);
  // What the audit could not check on this server (no session_log on 18.x...): silence there is no evidence.
  // (AuditReport gains `notes` with the findings work of #19; read structurally so either side builds.)
  const notes = (summary as AuditReport & { notes?: readonly string[] }).notes ?? [];
  const engineerRows = summary.engineers.map((engineer) => [
    escapeHtml(engineer.engineer),
    escapeHtml(engineer.requests.map((id) => id ?? '(untagged)').join(', ')),
    escapeHtml(`${engineer.first} to ${engineer.last}`),
    count(engineer.queries),
    count(engineer.failures),
    count(engineer.denied),
    count(engineer.readRows),
    escapeHtml(bytes(engineer.readBytes)),
  ]);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>byoc audit: ${escapeHtml(input.service)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Audit of engineer access to ${escapeHtml(input.service)}</h1>
<p class="muted">From ${escapeHtml(input.window.since)} to ${escapeHtml(input.window.until)} &middot; read from ${escapeHtml(summary.source)} by the customer's own credentials &middot; the files of this pack are hashed and signed in manifest.json and manifest.sig (<code>byoc audit verify</code>).</p>
</header>
<h2>Totals</h2>
${cards([
  ['queries', count(queries)],
  ['failed', count(failures), failures > 0],
  ['refused', count(denied), denied > 0],
  ['findings', count(summary.findings.length), summary.findings.length > 0],
  ['requests', count([...byRequest.keys()].filter(Boolean).length)],
  ['engineers', count(summary.engineers.length)],
  ['rows read', count(readRows)],
  ['bytes read', bytes(readBytes)],
])}
${notes.length ? `<h3>Not checked</h3>\n<ul class="bad">${notes.map((note) => `<li>${escapeHtml(note)}</li>`).join('')}</ul>` : ''}
<h3>Findings by kind</h3>
${table(['finding', 'count'], kinds.map(([kind, times]) => [`<span class="kind">${escapeHtml(kind)}</span>`, count(times)]), new Set([1]))}
<h3>Per engineer</h3>
${table(['engineer', 'requests', 'active', 'queries', 'failed', 'refused', 'rows read', 'bytes read'], engineerRows, new Set([3, 4, 5, 6, 7]))}
${[...byRequest].map(([requestId, rows]) => requestSection(requestId, rows, input, parsed)).join('\n')}
<footer><p class="muted">Written by byoc audit report. This page runs no script and loads nothing.</p></footer>
</body>
</html>
`;
}
