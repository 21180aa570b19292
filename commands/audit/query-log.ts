import { defineCommand, option, RawJson, tsv } from '../../src/command.js';
import type { AuditReport, QueryRow } from '../../src/audit/audit.js';
import { closing } from '../../src/util/stream.js';
import { NotAllowedError, UsageError } from '../../src/errors.js';
import { parseDuration } from '../../src/util/duration.js';

type ListFormat = 'table' | 'json' | 'ndjson' | 'csv';

interface ReportResult {
  mode: 'report';
  report: AuditReport;
  findingsOnly: boolean;
  queries?: AsyncIterable<QueryRow>;
}

interface StreamResult {
  mode: 'stream';
  format: ListFormat;
  rows: AsyncIterable<QueryRow>;
}

type Result = ReportResult | StreamResult;

export default defineCommand({
  description: "Audit what vendor engineers did in your ClickHouse (system.query_log), per request and engineer, with findings",
  examples: [
    'CLICKHOUSE_PASSWORD=... byoc audit query-log --url https://clickhouse.internal:8443 --user auditor --since 7d',
    'byoc audit query-log sandbox --flush --findings-only',
    'byoc audit query-log --url https://ch:8443 --grants grants.json --queries --format ndjson > engineer-queries.ndjson',
    'byoc audit query-log --url https://ch:8443 --cluster main --request r-0k3j9x2m1q --json',
    'byoc audit query-log sandbox --follow --json',
  ],
  args: { service: { description: 'a service with an audit connection (e.g. sandbox), instead of --url' } },
  options: {
    url: option.url('--url <url>', 'audit.url', "your ClickHouse HTTP(S) URL"),
    user: option.string('--user <name>', 'audit.user', 'your ClickHouse user'),
    passwordEnv: option.string('--password-env <VAR>', 'audit.passwordEnv', 'the environment variable that holds the password'),
    ca: option.path('--ca <file>', 'audit.caFile', 'CA bundle for the server certificate'),
    cert: option.path('--cert <file>', 'audit.certFile', 'client certificate'),
    key: option.path('--key <file>', 'audit.keyFile', 'client key'),
    cluster: option.string('--cluster <name>', 'audit.cluster', 'read every replica with clusterAllReplicas'),
    sourceTable: option.string('--source-table <db.table>', 'audit.sourceTable', 'audit an exported copy of query_log'),
    since: option.string('--since <when>', 'audit.since', 'start: a duration ago (24h, 7d) or an ISO time'),
    until: option.string('--until <when>', 'audit.until', 'end: a duration ago or an ISO time (default: now)'),
    engineer: option.list('--engineer <who>', 'audit.engineer', 'only these engineers: an identity (all its per-request users) or a ClickHouse user, comma-separated'),
    request: option.string('--request <id>', 'audit.request', 'only this access request (the per-request user\'s, else the query_id tag\'s)'),
    userPattern: option.string('--user-pattern <regex>', 'audit.userPattern', 'which other ClickHouse users are engineers (per-request users byoc_r_... always are)'),
    grants: option.string('--grants <file|broker>', 'audit.grants', 'approved windows, only to flag queries outside them (engineers and requests come from the server\'s user names without it)'),
    queries: option.boolean('--queries', 'audit.queries', 'include every query'),
    findingsOnly: option.boolean('--findings-only', 'audit.findingsOnly', 'findings only; exit 4 when there are any'),
    follow: option.boolean('--follow', 'audit.follow', 'print new queries as they arrive, until Ctrl-C'),
    flush: option.boolean('--flush', 'audit.flush', 'SYSTEM FLUSH LOGS first'),
    format: option.choice('--format <format>', 'audit.format', 'query list as table, json, ndjson or csv (streams; no summary)', ['table', 'json', 'ndjson', 'csv'] as const),
    interval: option.duration('--interval <duration>', 'audit.interval', 'how often --follow polls'),
  },
  async run(input, ctx): Promise<Result> {
    const [{ connectAudit }, audit, { loadGrants }, { followQueries }] = await Promise.all([
      import('../../src/audit/session.js'),
      import('../../src/audit/audit.js'),
      import('../../src/audit/grants.js'),
      import('../../src/audit/follow.js'),
    ]);
    const now = ctx.clock.now().getTime();
    const since = pointInTime(input.since ?? '24h', now, '--since');
    const until = input.until ? pointInTime(input.until, now, '--until') : now + 1000;
    if (since >= until) {
      const window = `--since ${input.since ?? '24h'} (${new Date(since).toISOString()}) is not before --until ${input.until ?? 'now'} (${new Date(until).toISOString()})`;
      throw new UsageError('empty_window', window, { hint: `Swap them, or widen the window: --since ${input.until ?? '24h'}${input.until ? ` --until ${input.since ?? '24h'}` : ''}` });
    }
    const pattern = input.userPattern ?? '^byoc_';
    try {
      new RegExp(pattern);
    } catch {
      throw new UsageError('invalid_pattern', `--user-pattern "${pattern}" is not a regular expression`);
    }
    const grants = input.grants ? await loadGrants(ctx, input.grants) : undefined;
    const filter = {
      since: since / 1000,
      until: until / 1000,
      userPattern: pattern,
      ...(input.engineer?.length ? { engineers: input.engineer } : {}),
      ...(input.request ? { requestId: input.request } : {}),
      ...(input.cluster ? { cluster: input.cluster } : {}),
    };
    const { session } = await connectAudit(ctx, { service: input.service, url: input.url, user: input.user, passwordEnv: input.passwordEnv, caFile: input.ca, certFile: input.cert, keyFile: input.key });
    const sourceTable = input.sourceTable ?? 'system.query_log';
    if (input.follow || input.format) {
      if (input.flush) await audit.runAudit(session, { filter, sourceTable, flush: true, findingLimit: 1 }, ctx.signal);
      const schema = await audit.detectSchema(session, sourceTable, ctx.signal);
      const format: ListFormat = input.format ?? (ctx.output.json ? 'ndjson' : ctx.output.stdoutIsTTY ? 'table' : 'ndjson');
      const rows = input.follow
        ? followQueries(session, schema, filter, { intervalMs: input.interval ?? 2000, clock: ctx.clock, signal: ctx.signal })
        : closing(audit.queryRows(session, schema, filter, undefined, ctx.signal), () => session.close());
      return { mode: 'stream', format: input.follow && ctx.output.json ? 'ndjson' : format, rows };
    }
    const report = await audit.runAudit(session, { filter, sourceTable, flush: input.flush, grants }, ctx.signal);
    if (input.queries) {
      const schema = await audit.detectSchema(session, sourceTable, ctx.signal);
      return { mode: 'report', report, findingsOnly: false, queries: closing(audit.queryRows(session, schema, filter, undefined, ctx.signal), () => session.close()) };
    }
    await session.close();
    return { mode: 'report', report, findingsOnly: input.findingsOnly ?? false };
  },
  json(result) {
    if (result.mode === 'stream') return new RawJson(streamLines(result.rows, 'ndjson'));
    const report = result.findingsOnly ? { ...result.report, requests: undefined, engineers: undefined } : result.report;
    if (!result.queries) return report;
    return new RawJson(documentWithQueries(report, result.queries));
  },
  text(result) {
    if (result.mode === 'stream') return streamLines(result.rows, result.format);
    return (async function* () {
      const { reportText } = await import('../../src/audit/present.js');
      yield `${reportText(result.report, result.findingsOnly)}\n`;
      if (result.queries) yield* streamLines(result.queries, 'tsv');
    })();
  },
  async view(result, render) {
    if (result.mode === 'stream' || result.queries) return undefined;
    const { AuditView } = await import('../../src/ui/views/audit.js');
    return AuditView({ report: result.report, findingsOnly: result.findingsOnly, color: render.color, now: render.now });
  },
  outcome(result) {
    if (result.mode === 'report' && result.findingsOnly && result.report.findings.length > 0) {
      return new NotAllowedError('audit_findings', `${result.report.findings.length} finding(s) in ${result.report.source}`, { hint: 'Review them above; rerun without --findings-only for the per-request summary.' });
    }
    return undefined;
  },
});

/** `24h` means 24 hours ago; anything else must be a time Date can read. */
function pointInTime(text: string, now: number, flag: string): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now - duration;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new UsageError('invalid_time', `${flag} "${text}" is neither a duration (24h) nor a time (2026-11-21T10:00:00Z)`);
  return parsed;
}

async function* streamLines(rows: AsyncIterable<QueryRow>, format: ListFormat | 'tsv'): AsyncGenerator<string> {
  const { rowCells, csvLine, CSV_HEADER } = await import('../../src/audit/present.js');
  if (format === 'csv') yield `${csvLine(CSV_HEADER)}\n`;
  if (format === 'json') yield '[';
  let first = true;
  for await (const row of rows) {
    if (format === 'ndjson') yield `${JSON.stringify(row)}\n`;
    else if (format === 'json') yield `${first ? '\n' : ',\n'}${JSON.stringify(row)}`;
    else if (format === 'csv') yield `${csvLine(rowCells(row))}\n`;
    else yield `${tsv([rowCells(row)])}\n`;
    first = false;
  }
  if (format === 'json') yield '\n]\n';
}

async function* documentWithQueries(report: object, queries: AsyncIterable<QueryRow>): AsyncGenerator<string> {
  const head = JSON.stringify(report, null, 2);
  yield `${head.slice(0, head.lastIndexOf('}')).trimEnd()},\n  "queries": [`;
  let first = true;
  for await (const row of queries) {
    yield `${first ? '\n    ' : ',\n    '}${JSON.stringify(row)}`;
    first = false;
  }
  yield `${first ? '' : '\n  '}]\n}\n`;
}
