import { defineCommand, option, RawJson } from '../src/command.js';
import type { OutputFormat } from '../src/clickhouse/result-stream.js';
import type { GuardVerdict } from '../src/clickhouse/guard.js';
import type { Context } from '../src/context.js';
import type { Readable } from 'node:stream';
import { NotAllowedError, UsageError } from '../src/errors.js';

interface QueryCheck {
  mode: 'check';
  verdict: GuardVerdict;
}

/** `--check --file`: the verdict on each statement of a runbook. */
interface QueryFileCheck {
  mode: 'check-file';
  file: string;
  statements: StatementVerdict[];
}

/** The interactive shell ended (Ctrl-D, \q): its rows went to stdout as each statement ran. */
interface QueryShell {
  mode: 'shell';
  statements: number;
}

interface QueryRun {
  mode: 'run';
  format: OutputFormat;
  queryId: string;
  requestId: string;
  /** the server's answer through one ResultStream; render.ts pipes it to stdout */
  output: Readable;
}

type QueryResult = QueryCheck | QueryFileCheck | QueryRun | QueryShell;

export default defineCommand({
  examples: [
    "byoc query acme-prod 'SELECT database, table, elapsed, progress FROM system.merges'",
    'byoc query acme-prod --preset replication-queue',
    'byoc query acme-prod --file diag.sql --format ndjson > out.ndjson',
    "echo 'SELECT * FROM default.orders' | byoc query --check -",
    'byoc query --check --file runbook.sql',
    'byoc query acme-prod --preset cluster-replica-delays --cluster main',
    'byoc query acme-prod   # on a terminal: an interactive SQL shell (\\? for help, \\q or Ctrl-D to leave)',
  ],
  args: {
    service: { description: 'the customer service (omit with --check)' },
    sql: { description: 'the SQL, or - to read it from stdin (none, on a terminal: an interactive shell)' },
  },
  options: {
    file: option.path({ flag: '--file <file>', key: 'query.file', env: 'BYOC_QUERY_FILE', description: 'read the SQL from a file' }),
    preset: option.string({ flag: '--preset <name>', key: 'query.preset', env: 'BYOC_PRESET', description: 'a curated diagnostic (see: byoc query presets)' }),
    cluster: option.string({
      flag: '--cluster <name>', key: 'query.cluster', env: 'BYOC_CLUSTER', pattern: /^[A-Za-z0-9_.{}-]+$/, expects: 'a cluster name from system.clusters',
      description: 'the cluster whose replicas the cluster-* presets read (clusterAllReplicas)',
    }),
    format: option.choice({
      flag: '--format <format>', key: 'query.format', env: 'BYOC_QUERY_FORMAT', choices: ['table', 'json', 'ndjson', 'csv', 'tsv'],
      defaultNote: 'table on a TTY, tsv piped', description: 'query output format',
    }),
    maxRows: option.integer({ flag: '--max-rows <n>', key: 'query.maxRows', env: 'BYOC_MAX_ROWS', default: 100_000, min: 0, description: 'stop after this many rows (0: no limit)' }),
    timeout: option.duration({ flag: '--timeout <duration>', key: 'query.timeout', env: 'BYOC_QUERY_TIMEOUT', default: '60s', description: 'time limit for the query' }),
    check: option.boolean({
      flag: '--check', key: 'query.check', env: 'BYOC_CHECK', default: false,
      description: 'only check the SQL against the read-only policy (no service, certificate or network); with --file, each statement',
    }),
  },
  async run(input, ctx): Promise<QueryResult> {
    const { service, check } = input;
    // Nothing to run and a person at a terminal: the interactive shell (never without a TTY: rule 8).
    if (service && !check && input.sql === undefined && input.file === undefined && input.preset === undefined && ctx.output.stdinIsTTY && ctx.output.stdoutIsTTY) {
      const { runShell } = await import('../src/shell/shell.js');
      const format: OutputFormat = ctx.output.json ? 'json' : (input.format ?? 'table');
      const summary = await runShell(ctx, { service, format, maxRows: input.maxRows, timeoutMs: input.timeout, cluster: input.cluster });
      return { mode: 'shell', statements: summary.statements };
    }
    const sqlArgument = check && input.sql === undefined ? service : input.sql;
    let sql = await readSql(sqlArgument, input.file, input.preset, ctx, check ? '--check' : service);
    const { checkQuery } = await import('../src/clickhouse/guard.js');
    if (check && input.file !== undefined) return checkStatements(input.file, sql, checkQuery);
    const preset = input.preset !== undefined ? await presetNamed(input.preset) : undefined;
    if (preset?.replicas && !check && service && input.cluster === undefined) {
      throw new UsageError('cluster_required', `preset ${preset.name} reads every replica of a cluster: name it with --cluster`, {
        hint: `byoc query ${service} --preset ${preset.name} --cluster NAME (names: byoc query ${service} 'SELECT DISTINCT cluster FROM system.clusters'), or --preset ${preset.name.replace(/^cluster-/, '')} for this server only`,
      });
    }
    let verdict = checkQuery(sql);
    if (check) return { mode: 'check', verdict };
    if (!service) {
      const names = await configuredServices(ctx);
      const how = input.preset !== undefined ? `--preset ${input.preset}` : input.file !== undefined ? `--file ${input.file}` : "'SELECT ...'";
      throw new UsageError('service_required', 'name the service to query', {
        hint: names.length
          ? `byoc query ${names[0]} ${how}${names.length > 1 ? ` (configured: ${names.join(', ')})` : ''}, or --check to only validate`
          : `No service is configured: add one under services in the byoc configuration, or use --check ${how} to only validate.`,
      });
    }
    // a preset is checked as rendered for the server (below): on a server before clusterAllReplicas it reads one table
    if (!verdict.allowed && !preset) throw refusal(verdict);

    const [{ openEngineerSession, IDLE_MARGIN_MS }, { runTagged }] = await Promise.all([import('../src/clickhouse/engineer.js'), import('../src/clickhouse/run.js')]);
    const { trailingFormat } = await import('../src/clickhouse/guard.js');
    // clickhouse-client's `\G` (vertical output) means nothing to the server over HTTP: send FORMAT Vertical instead.
    const vertical = /\\G\s*;?\s*$/.exec(sql);
    if (vertical) {
      sql = `${sql.slice(0, vertical.index).trimEnd()} FORMAT Vertical`;
      verdict = checkQuery(sql);
      if (!verdict.allowed) throw refusal(verdict);
    }
    const own = trailingFormat(sql);
    if (own !== undefined) refuseOtherFormat(own, ctx.output.json ? '--json' : input.format);
    const format: OutputFormat = ctx.output.json ? 'json' : (input.format ?? (ctx.output.stdoutIsTTY ? 'table' : 'tsv'));
    const timeoutMs = input.timeout;
    const maxRows = input.maxRows;
    // Certificate, connection, then the server's first row: one wait for the person at the terminal.
    const endWait = ctx.beginProgress(`querying ${service}`);
    // The client's idle timeout is only a backstop behind the query's own deadline, which cancels on the server.
    const { session, tags, nextQueryId, settings: memory } = await openEngineerSession(ctx, service, { timeoutMs: timeoutMs + IDLE_MARGIN_MS }).catch((error: unknown) => {
      endWait();
      throw error;
    });
    const { requestId } = tags;
    const { renderForServer, resultSink, wireFormatFor } = await import('../src/clickhouse/statement.js');
    if (preset) {
      // The preset as this server can run it: its tables and columns first (one query), then the SQL for them.
      try {
        const rendered = await renderForServer(preset, input.cluster, (text) => runTagged((request) => session.query(request), { sql: text, format: 'TabSeparated', queryId: nextQueryId(), maxRows: 0, timeoutMs, tags, signal: ctx.signal, memory }));
        rendered.notes.forEach((note) => ctx.log.warn(note));
        sql = rendered.sql;
        verdict = checkQuery(sql);
        if (!verdict.allowed) throw refusal(verdict);
      } catch (error) {
        endWait();
        await session.close();
        throw error;
      }
    }
    const queryId = nextQueryId();
    const tagged = { sql, queryId, maxRows, timeoutMs, tags, signal: ctx.signal, deadline: true, memory };
    const onTruncated = (shown: number) => ctx.log.warn(`stopped after ${shown} rows (--max-rows ${maxRows}); pass --max-rows 0 for all`);
    const sink = await resultSink({ format, own, maxRows, onTruncated, queryId, requestId, color: ctx.output.color, columns: ctx.io.stdout.columns ?? 120 });
    let output: Readable;
    try {
      output = await runTagged((request) => session.stream(request, sink), { ...tagged, format: own !== undefined ? undefined : wireFormatFor(format) });
    } catch (error) {
      await session.close();
      throw error;
    } finally {
      // The server accepted the query (or refused it): its rows, if any, follow at once.
      endWait();
    }
    ctx.log.verbose(`query_id ${queryId}`);
    output.once('close', () => void session.close());
    return { mode: 'run', format, queryId, requestId, output };
  },
  // A FORMAT clause's bytes are printed as they are, --json or not (refuseOtherFormat let only FORMAT JSON through).
  json: (result) =>
    result.mode === 'check' ? checkDocument(result.verdict) : result.mode === 'check-file' ? eachOf(result.statements) : new RawJson(result.mode === 'shell' ? NOTHING : result.output),
  text: (result) =>
    result.mode === 'shell'
      ? ''
      : result.mode === 'check'
      ? `${result.verdict.allowed ? 'allowed' : 'refused'}\t${result.verdict.reason}`
      : result.mode === 'check-file'
        ? result.statements.map((entry) => `${entry.line}\t${entry.allowed ? 'allowed' : 'refused'}\t${entry.reason}\n`).join('')
        : result.output,
  async view(result, render) {
    // Rows stream as the table format chose; only the guard's verdicts have views of their own.
    if (result.mode === 'run' || result.mode === 'shell') return undefined;
    if (result.mode === 'check-file') {
      const { QueryCheckFileView } = await import('../src/ui/views/query-check-file.js');
      return QueryCheckFileView({ file: result.file, statements: result.statements, color: render.color, columns: render.columns });
    }
    const { QueryCheckView } = await import('../src/ui/views/query-check.js');
    return QueryCheckView({ ...result.verdict, color: render.color });
  },
  outcome: (result) =>
    result.mode === 'check' && !result.verdict.allowed ? refusal(result.verdict) : result.mode === 'check-file' ? fileRefusal(result) : undefined,
});

interface StatementVerdict {
  line: number;
  allowed: boolean;
  reason: string;
  tables: string[];
  statement: string;
}

async function checkStatements(file: string, sql: string, checkQuery: (sql: string) => GuardVerdict): Promise<QueryFileCheck> {
  const { splitStatements } = await import('../src/clickhouse/statements.js');
  const statements = splitStatements(sql).map(({ text, line }) => {
    const verdict = checkQuery(text);
    return { line, allowed: verdict.allowed, reason: verdict.reason, tables: verdict.tables, statement: text.trim() };
  });
  if (!statements.length) throw new UsageError('sql_required', `${file} has no SQL statements`, { hint: 'Separate statements with ; (comments and blank lines are skipped).' });
  return { mode: 'check-file', file, statements };
}

/** The shell printed each statement's rows as it ran: nothing is left for the end. */
const NOTHING: AsyncIterable<string> = { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };

/** One JSON object per statement (NDJSON), in file order. */
async function* eachOf(statements: readonly StatementVerdict[]): AsyncGenerator<StatementVerdict> {
  for (const statement of statements) yield await Promise.resolve(statement);
}

function fileRefusal(result: QueryFileCheck): NotAllowedError | undefined {
  const refused = result.statements.filter((entry) => !entry.allowed);
  if (!refused.length) return undefined;
  const lines = refused.map((entry) => entry.line).join(', ');
  return new NotAllowedError('query_refused', `${refused.length} of ${result.statements.length} statements in ${result.file} refused (line${refused.length > 1 ? 's' : ''} ${lines})`, {
    hint: `Line ${refused[0]!.line}: ${refused[0]!.reason}. byoc runs read-only statements on system and information_schema tables only; see byoc query presets.`,
  });
}

async function presetNamed(name: string) {
  const { findPreset, PRESETS } = await import('../src/clickhouse/presets.js');
  const found = findPreset(name);
  if (!found) throw new UsageError('preset_unknown', `no preset named "${name}"`, { hint: `Presets: ${PRESETS.map((entry) => entry.name).join(', ')}.` });
  return found;
}


/** ClickHouse formats that are what each byoc format asks for (lowercase; format names are case-insensitive aliases here). */
const SAME_FORMAT: Record<string, readonly string[]> = {
  '--json': ['json'],
  json: ['json'],
  ndjson: ['jsoneachrow', 'ndjson', 'jsonlines'],
  csv: ['csv', 'csvwithnames'],
  tsv: ['tsv', 'tabseparated', 'tsvwithnames', 'tabseparatedwithnames'],
  table: ['pretty', 'prettycompact', 'prettycompactmonoblock', 'prettynoescapes', 'prettyspace', 'vertical'],
};

/** A FORMAT clause and a different --format (or --json) cannot both be honoured: say so rather than pick one. */
function refuseOtherFormat(own: string, asked: string | undefined): void {
  if (asked === undefined || SAME_FORMAT[asked]?.includes(own.toLowerCase())) return;
  const flag = asked === '--json' ? '--json' : `--format ${asked}`;
  throw new UsageError('format_conflict', `the SQL ends with FORMAT ${own}, but ${flag} asks for another output format`, {
    hint: `Keep one: drop ${flag} (and BYOC_QUERY_FORMAT / query.format) to get ${own} as the server writes it, or drop the FORMAT clause.`,
  });
}

function checkDocument(verdict: GuardVerdict) {
  return { allowed: verdict.allowed, reason: verdict.reason, tables: verdict.tables };
}

function refusal(verdict: GuardVerdict): NotAllowedError {
  return new NotAllowedError('query_refused', verdict.reason, {
    hint: 'byoc runs read-only statements on system and information_schema tables only; see byoc query presets.',
  });
}

/** Service names from the configuration, for hints; none when it cannot be read (the hint is not the place to fail). */
async function configuredServices(ctx: Context): Promise<string[]> {
  try {
    return Object.keys((await ctx.config()).services());
  } catch {
    return [];
  }
}

/** `target` is what goes before the SQL in a hint: the service as given (or --check). */
async function readSql(argument: string | undefined, file: string | undefined, preset: string | undefined, ctx: Context, target: string | undefined): Promise<string> {
  const before = target ?? (await configuredServices(ctx))[0] ?? '--check';
  const sources = [argument !== undefined, file !== undefined, preset !== undefined].filter(Boolean).length;
  if (sources > 1) {
    const given = [argument !== undefined ? 'an argument' : '', file !== undefined ? `--file ${file}` : '', preset !== undefined ? `--preset ${preset}` : ''].filter(Boolean).join(' and ');
    throw new UsageError('sql_sources', `give the SQL one way: as an argument, with --file, or with --preset (got ${given})`, {
      hint: preset !== undefined ? `Keep one: byoc query ${before} --preset ${preset}` : `Keep one: byoc query ${before} --file ${file}`,
    });
  }
  if (preset !== undefined) {
    // the SQL for current ClickHouse: what --check checks; a run renders it again for the server's schema
    const { renderPreset } = await import('../src/clickhouse/presets.js');
    return renderPreset(await presetNamed(preset)).sql;
  }
  if (file !== undefined) {
    const { readFile } = await import('node:fs/promises');
    const path = await import('node:path');
    try {
      return await readFile(path.resolve(ctx.cwd, file), 'utf8');
    } catch (error) {
      throw new UsageError('sql_file_unreadable', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (argument === '-') {
    if (ctx.output.stdinIsTTY) throw new UsageError('stdin_is_tty', 'SQL on stdin was asked (-) but stdin is a terminal', { hint: `Pipe it in: echo 'SELECT 1' | byoc query ${before} -` });
    let text = '';
    for await (const chunk of ctx.io.stdin) text += chunk.toString();
    return text;
  }
  if (argument === undefined || argument.trim() === '') {
    throw new UsageError('sql_required', 'no SQL to run', {
      hint: `Pass it as an argument, with --file, --preset, or - for stdin: byoc query ${before} 'SELECT 1' (on a terminal, byoc query ${before} alone opens a shell)`,
    });
  }
  return argument;
}
