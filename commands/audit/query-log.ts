import { defineCommand, option, RawJson, tsv } from '../../src/command.js';
import { ENGINEER_USER_PATTERN } from '../../src/access/server-user.js';
import type { AuditReport, QueryRow } from '../../src/audit/audit.js';
import { closing } from '../../src/util/stream.js';
import { NotAllowedError } from '../../src/errors.js';

type ListFormat = 'table' | 'json' | 'ndjson' | 'csv' | 'ocsf';

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
  /** --format ocsf: what each event names besides the row */
  ocsf?: { byocVersion: string; server: string };
}

type Result = ReportResult | StreamResult;

export default defineCommand({
  examples: [
    'CLICKHOUSE_PASSWORD=... byoc audit query-log --url https://clickhouse.internal:8443 --user auditor --since 7d',
    'byoc audit query-log sandbox --flush --findings-only',
    'byoc audit query-log --url https://ch:8443 --grants grants.json --queries --format ndjson > engineer-queries.ndjson',
    'byoc audit query-log --url https://ch:8443 --cluster main --request r-0k3j9x2m1q --json',
    'byoc audit query-log sandbox --follow --json',
  ],
  args: { service: { description: 'a service with an audit connection (e.g. sandbox), instead of --url' } },
  options: {
    url: option.url({ flag: '--url <url>', key: 'audit.url', env: 'BYOC_AUDIT_URL', schemes: ['http', 'https'], description: 'your ClickHouse HTTP(S) URL' }),
    // No defaults for user and password: a service's audit entry fills in before the fallbacks (src/audit/connect.ts).
    user: option.string({ flag: '--user <name>', key: 'audit.user', env: 'BYOC_AUDIT_USER', defaultNote: "the service's audit.user, else default", description: 'your ClickHouse user' }),
    passwordEnv: option.string({
      flag: '--password-env <VAR>', key: 'audit.passwordEnv', env: 'BYOC_AUDIT_PASSWORD_ENV', pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, expects: 'an environment variable name',
      defaultNote: 'CLICKHOUSE_PASSWORD', description: 'the environment variable that holds the password',
    }),
    ca: option.path({ flag: '--ca <file>', key: 'audit.caFile', env: 'BYOC_AUDIT_CA', description: 'CA bundle for the server certificate' }),
    cert: option.path({ flag: '--cert <file>', key: 'audit.certFile', env: 'BYOC_AUDIT_CERT', description: 'client certificate' }),
    key: option.path({ flag: '--key <file>', key: 'audit.keyFile', env: 'BYOC_AUDIT_KEY', description: 'client key' }),
    cluster: option.string({ flag: '--cluster <name>', key: 'audit.cluster', env: 'BYOC_AUDIT_CLUSTER', description: 'read every replica: clusterAllReplicas(cluster, query_log)' }),
    sourceTable: option.string({ flag: '--source-table <db.table>', key: 'audit.sourceTable', env: 'BYOC_AUDIT_SOURCE', default: 'system.query_log', description: 'audit an exported copy of query_log' }),
    since: option.string({ flag: '--since <when>', key: 'audit.since', env: 'BYOC_AUDIT_SINCE', default: '24h', description: 'start: a duration ago (24h, 7d) or an ISO time' }),
    until: option.string({ flag: '--until <when>', key: 'audit.until', env: 'BYOC_AUDIT_UNTIL', defaultNote: 'now', description: 'end: a duration ago or an ISO time' }),
    engineer: option.list({
      flag: '--engineer <who>', key: 'audit.engineer', env: 'BYOC_AUDIT_ENGINEER',
      description: 'only these engineers: an identity (all its per-request users) or a ClickHouse user, comma-separated',
    }),
    request: option.string({ flag: '--request <id>', key: 'audit.request', env: 'BYOC_AUDIT_REQUEST', description: "only this access request (the per-request user's, else the query_id tag's)" }),
    userPattern: option.string({
      flag: '--user-pattern <regex>', key: 'audit.userPattern', env: 'BYOC_AUDIT_USER_PATTERN', default: ENGINEER_USER_PATTERN,
      description: 'which other ClickHouse users are engineers (per-request users byoc_r_... always are)',
    }),
    grants: option.string({
      flag: '--grants <file|broker>', key: 'audit.grants', env: 'BYOC_AUDIT_GRANTS',
      description: "approved windows (a file from `byoc access list --json`, or broker), only to flag queries outside them (engineers and requests come from the server's user names without it)",
    }),
    queries: option.boolean({ flag: '--queries', key: 'audit.queries', env: 'BYOC_AUDIT_QUERIES', default: false, description: 'include every query' }),
    findingsOnly: option.boolean({ flag: '--findings-only', key: 'audit.findingsOnly', env: 'BYOC_AUDIT_FINDINGS_ONLY', default: false, description: 'findings only; exit 4 when there are any' }),
    follow: option.boolean({ flag: '--follow', key: 'audit.follow', env: 'BYOC_AUDIT_FOLLOW', default: false, description: 'print new queries as they arrive, until Ctrl-C' }),
    flush: option.boolean({ flag: '--flush', key: 'audit.flush', env: 'BYOC_AUDIT_FLUSH', default: false, description: 'SYSTEM FLUSH LOGS first' }),
    format: option.choice({
      flag: '--format <format>', key: 'audit.format', env: 'BYOC_AUDIT_FORMAT', choices: ['table', 'json', 'ndjson', 'csv', 'ocsf'],
      defaultNote: 'table on a TTY, ndjson piped', description: 'query list format (streams; no summary); ocsf: OCSF 1.x Datastore Activity events, one a line',
    }),
    interval: option.duration({ flag: '--interval <duration>', key: 'audit.interval', env: 'BYOC_AUDIT_INTERVAL', default: '2s', description: 'how often --follow polls' }),
  },
  async run(input, ctx): Promise<Result> {
    const [{ connectAudit }, audit, { loadGrants }, { followQueries }] = await Promise.all([
      import('../../src/audit/session.js'),
      import('../../src/audit/audit.js'),
      import('../../src/audit/grants.js'),
      import('../../src/audit/follow.js'),
    ]);
    const filter = (await import('../../src/audit/window.js')).auditFilter(input, ctx.clock.now().getTime());
    const grants = input.grants ? await loadGrants(ctx, input.grants) : undefined;
    const { session, url: server } = await connectAudit(ctx, { service: input.service, url: input.url, user: input.user, passwordEnv: input.passwordEnv, caFile: input.ca, certFile: input.cert, keyFile: input.key });
    const sourceTable = input.sourceTable;
    if (input.follow || input.format) {
      if (input.flush) await audit.runAudit(session, { filter, sourceTable, flush: true, findingLimit: 1 }, ctx.signal);
      const schema = await audit.detectSchema(session, sourceTable, ctx.signal);
      const format: ListFormat = input.format ?? (ctx.output.json ? 'ndjson' : ctx.output.stdoutIsTTY ? 'table' : 'ndjson');
      // an OCSF export carries the failed logins too (Authentication events), after the queries
      const withLogins = async function* (): AsyncGenerator<QueryRow> {
        yield* audit.queryRows(session, schema, filter, undefined, ctx.signal);
        if (format === 'ocsf') yield* audit.loginFailureRows(session, filter, (note) => ctx.log.warn(note), ctx.signal);
      };
      const rows = input.follow
        ? followQueries(session, schema, filter, { intervalMs: input.interval, clock: ctx.clock, signal: ctx.signal })
        : closing(withLogins(), () => session.close());
      return { mode: 'stream', format: input.follow && ctx.output.json && format !== 'ocsf' ? 'ndjson' : format, rows, ...(format === 'ocsf' ? { ocsf: { byocVersion: ctx.version, server } } : {}) };
    }
    const report = await audit.runAudit(session, { filter, sourceTable, flush: input.flush, grants }, ctx.signal);
    // what this server could not be checked for: on stderr, so a report with no findings is not read as "all clear"
    for (const note of report.notes ?? []) ctx.log.warn(note);
    if (input.queries) {
      const schema = await audit.detectSchema(session, sourceTable, ctx.signal);
      return { mode: 'report', report, findingsOnly: false, queries: closing(audit.queryRows(session, schema, filter, undefined, ctx.signal), () => session.close()) };
    }
    await session.close();
    return { mode: 'report', report, findingsOnly: input.findingsOnly };
  },
  json(result) {
    if (result.mode === 'stream') return new RawJson(streamLines(result.rows, result.format === 'ocsf' ? 'ocsf' : 'ndjson', result.ocsf));
    const report = result.findingsOnly ? { ...result.report, requests: undefined, engineers: undefined } : result.report;
    if (!result.queries) return report;
    return new RawJson(documentWithQueries(report, result.queries));
  },
  text(result) {
    if (result.mode === 'stream') return streamLines(result.rows, result.format, result.ocsf);
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


async function* streamLines(rows: AsyncIterable<QueryRow>, format: ListFormat | 'tsv', ocsf?: { byocVersion: string; server: string }): AsyncGenerator<string> {
  const { rowCells, csvLine, CSV_HEADER } = await import('../../src/audit/present.js');
  if (format === 'ocsf') {
    const { ocsfLogin, ocsfQuery } = await import('../../src/audit/ocsf.js');
    for await (const row of rows) {
      const event = row.type === 'login-failure' ? ocsfLogin({ time: row.time, user: row.user, engineer: row.engineer, success: false, reason: row.error ?? undefined }, ocsf!) : ocsfQuery(row, ocsf!);
      yield `${JSON.stringify(event)}\n`;
    }
    return;
  }
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
