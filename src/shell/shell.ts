import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { GrantWatch } from '../access/grant-watch.js';
import type { EngineerSession } from '../clickhouse/engineer.js';
import type { OutputFormat } from '../clickhouse/result-stream.js';
import type { Context } from '../context.js';
import { abortReason, ByocError, isAbort, NotAllowedError, UsageError } from '../errors.js';
import { formatCoarse } from '../util/duration.js';
import { ShellHistory, HISTORY_SIZE } from './history.js';
import { StatementBuffer, type ShellStatement } from './statements.js';

export interface ShellOptions {
  service: string;
  /** the output format to start with (`\format` changes it) */
  format: OutputFormat;
  maxRows: number;
  timeoutMs: number;
  /** the cluster the cluster-* presets read, unless `\preset NAME CLUSTER` names one */
  cluster: string | undefined;
}

export interface ShellSummary {
  /** statements sent to the server (refused ones are not) */
  statements: number;
}

/** The formats `\format` switches between: the ones byoc renders or passes through for `byoc query`. */
const FORMATS: readonly OutputFormat[] = ['table', 'json', 'ndjson', 'csv', 'tsv'];


const HELP = `Statements end at ; (or \\G for vertical output) and may span lines; each passes byoc's read-only guard.
  \\format csv|tsv|table|json|ndjson   the output format of the next statements
  \\presets                            the curated diagnostics
  \\preset NAME [CLUSTER]              run one (rendered for this server, as --preset does)
  \\q  (or quit, exit, Ctrl-D)         leave the shell
  \\?  (or help)                       this help
Ctrl-C cancels the running query on the server (the shell stays), or clears what is being typed.
`;

/**
 * `byoc query SERVICE` on a terminal with no SQL: an interactive SQL shell over one engineer session. Every
 * statement goes the way `byoc query` sends one (the guard on the exact text sent, runTagged's tags and limits, the
 * same ResultStream renderers, KILL QUERY on Ctrl-C), so the shell adds no second path to the server. The grant is
 * watched (warnings at 10 and 2 minutes, the end or a revocation ends the shell with exit 4).
 *
 * Line editing is node:readline in terminal mode: history recall, editing keys, 'SIGINT' on Ctrl-C (raw mode: the
 * terminal sends no signal) and 'close' on Ctrl-D; a line editor package would add a dependency for no key the
 * engineer needs here.
 */
export async function runShell(ctx: Context, options: ShellOptions): Promise<ShellSummary> {
  const input = ctx.io.stdin.stream?.();
  if (!input) throw new UsageError('stdin_not_interactive', 'the shell needs an interactive stdin', { hint: `Pass the SQL instead: byoc query ${options.service} 'SELECT 1'` });
  const [{ openEngineerSession, IDLE_MARGIN_MS }, { watchGrant }] = await Promise.all([import('../clickhouse/engineer.js'), import('../access/grant-watch.js')]);
  const endWait = ctx.beginProgress(`connecting to ${options.service}`);
  let engineer: EngineerSession;
  try {
    engineer = await openEngineerSession(ctx, options.service, { timeoutMs: options.timeoutMs + IDLE_MARGIN_MS });
  } finally {
    endWait();
  }
  // Ctrl-C while connecting came as a signal (the terminal is not in raw mode yet): no shell then
  if (ctx.signal.aborted) {
    await engineer.session.close();
    throw abortReason(ctx.signal);
  }
  const history = new ShellHistory(ctx.stateDir(), options.service);
  try {
    await history.load();
  } catch (error) {
    ctx.log.warn(`cannot read the shell history ${history.file}: ${(error as Error).message}; starting without it`);
  }
  const { endsAt } = engineer;
  const stopped = new AbortController();
  const shell = new Shell(ctx, options, engineer, history);
  const watch = watchGrant({
    service: options.service,
    requestId: engineer.tags.requestId,
    endsAt,
    clock: ctx.clock,
    broker: () => ctx.client('broker'),
    onWarning: (message) => shell.notice(`warning: ${message}`),
    onUnreachable: (message) => shell.notice(`warning: ${message}`),
    signal: AbortSignal.any([ctx.signal, stopped.signal]),
  });
  try {
    return await shell.run(input, watch);
  } finally {
    stopped.abort();
    watch.stop();
    await engineer.session.close();
  }
}

class Shell {
  readonly #buffer = new StatementBuffer();
  /** the lines of the entry being typed: one history entry once its statements are complete */
  #typed: string[] = [];
  /** lines entered while a statement runs: run after it, as a terminal's type-ahead is in clickhouse-client and psql */
  readonly #queue: string[] = [];
  #busy = false;
  /** the pump working through #queue, while it does */
  #pumping: Promise<void> | undefined;
  /** aborts what runs now (Ctrl-C, the grant's end) */
  #running: AbortController | undefined;
  #format: OutputFormat;
  #statements = 0;
  #rl: Interface | undefined;
  #watch: GrantWatch | undefined;
  /** readline's own history (newest first), rewritten from the file's entries so a multi-line statement is one entry */
  #recall: string[];
  #ended: NotAllowedError | undefined;
  #closed = false;
  #quit = false;
  /** a cancel dropped the half-typed line: emptied before the next prompt */
  #clearTyping = false;

  constructor(
    private readonly ctx: Context,
    private readonly options: ShellOptions,
    private readonly engineer: EngineerSession,
    private readonly history: ShellHistory,
  ) {
    this.#format = options.format;
    this.#recall = [...history.entries].reverse();
  }

  async run(input: NonNullable<ReturnType<NonNullable<Context['io']['stdin']['stream']>>>, watch: GrantWatch): Promise<ShellSummary> {
    this.#watch = watch;
    const rl = createInterface({
      input,
      // The prompt and the echo of what is typed go where the rows go, the terminal (as clickhouse-client's and
      // psql's do): the shell opens only when stdout is one. Messages stay on stderr.
      output: this.ctx.io.stdout as NodeJS.WritableStream,
      terminal: true,
      history: this.#recall,
      historySize: HISTORY_SIZE,
      removeHistoryDuplicates: true,
      prompt: this.#prompt(),
    });
    this.#rl = rl;
    // Node documents the array this event hands over as the one to change; keep it to rewrite it in place.
    rl.on('history', (lines: string[]) => (this.#recall = lines));
    const closed = new Promise<void>((resolve) => rl.once('close', resolve));
    rl.on('close', () => {
      this.#closed = true;
      // Ctrl-D or the grant's end leaves the cursor after the prompt (or what is typed): end its line, as a shell
      // does; a running statement's rows ended theirs
      if (!this.#quit && !(this.#busy && !rl.line)) this.ctx.io.stdout.write('\n');
      this.#running?.abort(new DOMException('the shell closed', 'AbortError'));
    });
    rl.on('line', (line) => {
      this.#queue.push(line);
      this.#pumping ??= this.#pump().finally(() => (this.#pumping = undefined));
    });
    rl.on('SIGINT', () => this.#interrupt());
    const onAbort = () => rl.close();
    this.ctx.signal.addEventListener('abort', onAbort, { once: true });
    void watch.ended.then(
      (reason) => {
        if (!reason || this.#closed) return;
        this.#ended = reason;
        // an abort, not the reason itself: what stops a query stays an AbortError to every layer below
        this.#running?.abort(new DOMException('the grant ended', 'AbortError'));
        rl.close();
      },
      // the watch broke (not the broker being unreachable, which it says itself): the server still enforces the end
      (error: unknown) => this.notice(`warning: byoc stopped watching the grant (${error instanceof Error ? error.message : String(error)}); the server still ends access at its end`),
    );
    this.ctx.log.info(`byoc shell on ${this.options.service} as ${this.engineer.tags.engineer} (request ${this.engineer.tags.requestId}): read-only, every statement tagged for the audit. \\? for help, \\q to quit.`);
    rl.prompt();
    try {
      await closed;
      // a statement that was running when the shell closed has settled (cancelled on the server) before byoc exits
      await this.#pumping;
    } finally {
      this.ctx.signal.removeEventListener('abort', onAbort);
    }
    if (this.#ended) throw this.#ended;
    return { statements: this.#statements };
  }

  /** A line for the engineer (a warning) that must not garble what is being typed: the line is redrawn under it. */
  notice(text: string): void {
    const rl = this.#rl;
    if (!rl || this.#busy || this.#closed) {
      this.ctx.log.info(text);
      return;
    }
    const out = this.ctx.io.stdout as NodeJS.WritableStream;
    cursorTo(out, 0);
    clearLine(out, 0);
    this.ctx.log.info(text);
    rl.setPrompt(this.#prompt());
    rl.prompt(true);
  }

  /** Ctrl-C: cancels what runs (the queue with it), or clears the statement being typed, as psql does. */
  #interrupt(): void {
    const rl = this.#rl!;
    if (this.#running) {
      // what was typed meanwhile goes with the cancel (lines and the line being typed): running it after a cancel
      // would surprise. The echo of a half-typed line ends here, so the messages start on their own line.
      if (rl.line) this.ctx.io.stdout.write('^C\n');
      this.#clearTyping = Boolean(rl.line);
      this.#running.abort(new DOMException('cancelled', 'AbortError'));
      if (this.#queue.length) {
        this.ctx.log.info(`(${this.#queue.length} line${this.#queue.length > 1 ? 's' : ''} typed meanwhile dropped with the cancel)`);
        this.#queue.length = 0;
      }
      return;
    }
    // readline keeps the line when a SIGINT listener handles Ctrl-C: end it visibly, then empty it
    rl.write(null, { ctrl: true, name: 'e' });
    this.ctx.io.stdout.write('^C\n');
    rl.write(null, { ctrl: true, name: 'u' });
    this.#buffer.clear();
    this.#typed = [];
    this.#syncRecall();
    rl.setPrompt(this.#prompt());
    rl.prompt();
  }

  /** Runs the queued lines one after another; one pump at a time (#pumping). */
  async #pump(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length && !this.#closed) {
        // whatever one line does wrong is said, and the shell goes on with the next
        await this.#line(this.#queue.shift()!).catch((error: unknown) => this.#say(error));
      }
    } finally {
      this.#busy = false;
    }
    if (this.#closed) return;
    const rl = this.#rl!;
    if (this.#clearTyping) {
      this.#clearTyping = false;
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
    }
    rl.setPrompt(this.#prompt());
    rl.prompt();
  }

  async #line(line: string): Promise<void> {
    // psql's way: a backslash command runs even in the middle of a statement, which then keeps waiting for its
    // end (\q leaves at once); not inside an open string or comment, where the line is its text. quit, exit and
    // help only count on a line of their own, where they cannot be SQL.
    if (isMeta(line) && (!this.#buffer.pending || (line.trim().startsWith('\\') && !this.#buffer.open))) {
      const statement = this.#typed;
      this.#typed = [line];
      await this.#remember();
      this.#typed = statement;
      await this.#meta(line.trim().replace(/;$/, '').trim());
      return;
    }
    this.#typed.push(line);
    const statements = this.#buffer.add(line);
    if (!this.#buffer.pending) await this.#remember();
    for (const statement of statements) {
      if (this.#closed) return;
      // a cancel drops the rest of the line with the statement it stopped
      if (!(await this.#statement(statement))) return;
    }
  }

  /** The entry just completed goes to the history file and to readline's recall, as one entry. */
  async #remember(): Promise<void> {
    const entry = this.#typed.join('\n');
    this.#typed = [];
    try {
      await this.history.add(entry);
    } catch (error) {
      this.ctx.log.warn(`cannot write the shell history ${this.history.file}: ${(error as Error).message}`);
    }
    this.#syncRecall();
  }

  #syncRecall(): void {
    this.#recall.splice(0, this.#recall.length, ...[...this.history.entries].reverse());
  }

  async #meta(command: string): Promise<void> {
    const [name = '', ...rest] = command.split(/\s+/);
    const out = this.ctx.io.stdout;
    switch (name.toLowerCase()) {
      case '\\q':
      case '\\quit':
      case 'quit':
      case 'exit':
        this.#quit = true;
        this.#rl!.close();
        return;
      case '\\?':
      case '\\h':
      case 'help':
        out.write(HELP);
        return;
      case '\\format': {
        const wanted = rest[0]?.toLowerCase();
        if (wanted === undefined) {
          out.write(`${this.#format}\n`);
        } else if (FORMATS.includes(wanted as OutputFormat)) {
          this.#format = wanted as OutputFormat;
        } else {
          this.#say(new UsageError('format_unknown', `no output format "${rest[0]}"`, { hint: `\\format ${FORMATS.join('|')}` }));
        }
        return;
      }
      case '\\presets': {
        const { PRESETS } = await import('../clickhouse/presets.js');
        const width = Math.max(...PRESETS.map((preset) => preset.name.length));
        out.write(PRESETS.map((preset) => `${preset.name.padEnd(width)}  ${preset.description}\n`).join(''));
        return;
      }
      case '\\preset':
        await this.#preset(rest[0], rest[1] ?? this.options.cluster);
        return;
      default:
        this.#say(new UsageError('shell_command_unknown', `unknown shell command ${name}`, { hint: '\\? lists them; SQL statements end with ;' }));
    }
  }

  async #preset(name: string | undefined, cluster: string | undefined): Promise<void> {
    const { findPreset, PRESETS } = await import('../clickhouse/presets.js');
    const preset = name === undefined ? undefined : findPreset(name);
    if (!preset) {
      this.#say(new UsageError('preset_unknown', name === undefined ? 'name the preset to run' : `no preset named "${name}"`, { hint: `\\preset NAME; names: ${PRESETS.map((entry) => entry.name).join(', ')}` }));
      return;
    }
    if (preset.replicas && cluster === undefined) {
      this.#say(new UsageError('cluster_required', `preset ${preset.name} reads every replica of a cluster: name it`, { hint: `\\preset ${preset.name} CLUSTER (names: SELECT DISTINCT cluster FROM system.clusters;), or \\preset ${preset.name.replace(/^cluster-/, '')} for this server only` }));
      return;
    }
    const [{ renderForServer }, { runTagged }] = await Promise.all([import('../clickhouse/statement.js'), import('../clickhouse/run.js')]);
    const { session, tags, nextQueryId, settings: memory } = this.engineer;
    const rendered = await this.#cancellable(async (signal) =>
      renderForServer(preset, cluster, (text) => runTagged((request) => session.query(request), { sql: text, format: 'TabSeparated', queryId: nextQueryId(), maxRows: 0, timeoutMs: this.options.timeoutMs, tags, signal, memory })),
    );
    if (!rendered) return;
    rendered.notes.forEach((note) => this.ctx.log.warn(note));
    await this.#statement({ sql: rendered.sql, vertical: false });
  }

  /** Runs one statement as `byoc query` would; false when it was cancelled (the rest of its line is dropped). */
  async #statement(statement: ShellStatement): Promise<boolean> {
    const [{ checkQuery, trailingFormat }, { resultSink, wireFormatFor }, { runTagged }, { pipeOut }] = await Promise.all([
      import('../clickhouse/guard.js'),
      import('../clickhouse/statement.js'),
      import('../clickhouse/run.js'),
      import('../command/render.js'),
    ]);
    // clickhouse-client's `\G` means nothing to the server over HTTP: FORMAT Vertical, as `byoc query` sends it.
    const sql = statement.vertical ? `${statement.sql} FORMAT Vertical` : statement.sql;
    const verdict = checkQuery(sql);
    if (!verdict.allowed) {
      this.#say(new NotAllowedError('query_refused', verdict.reason, { hint: 'byoc runs read-only statements on system and information_schema tables only; see \\presets.' }));
      return true;
    }
    // The statement's own FORMAT wins over \format for that statement, as clickhouse-client's does: it is what the
    // engineer typed last (`byoc query` refuses the clash instead, since both are explicit flags there).
    const own = trailingFormat(sql);
    const { session, tags, nextQueryId, settings: memory } = this.engineer;
    const queryId = nextQueryId();
    const format = this.#format;
    const { maxRows, timeoutMs } = this.options;
    const done = await this.#cancellable(async (signal) => {
      const sink = await resultSink({
        format,
        own,
        maxRows,
        onTruncated: (shown) => this.ctx.log.warn(`stopped after ${shown} rows (--max-rows ${maxRows}); start the shell with --max-rows 0 for all`),
        queryId,
        requestId: tags.requestId,
        color: this.ctx.output.color,
        columns: this.ctx.io.stdout.columns ?? 120,
      });
      this.#statements++;
      const output = await runTagged((request) => session.stream(request, sink), { sql, format: own !== undefined ? undefined : wireFormatFor(format), queryId, maxRows, timeoutMs, tags, signal, deadline: true, memory });
      this.ctx.log.verbose(`query_id ${queryId}`);
      await pipeOut(this.ctx.io.stdout, output, signal);
      return true;
    });
    return done === true;
  }

  /**
   * Runs `work` with a signal that Ctrl-C, the grant's end and the shell closing abort; a failure is said on stderr
   * and the shell goes on. Undefined when it did not finish.
   */
  async #cancellable<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    const controller = new AbortController();
    this.#running = controller;
    const signal = AbortSignal.any([this.ctx.signal, controller.signal]);
    try {
      return await work(signal);
    } catch (error) {
      if (signal.aborted && (isAbort(error) || error === signal.reason)) {
        // the grant's end says itself once the shell closes
        if (!this.#ended) this.ctx.log.info('cancelled: byoc stopped the query on the server');
      } else {
        this.#say(error);
      }
      return undefined;
    } finally {
      this.#running = undefined;
    }
  }

  /** A refusal or failure, said as main says one (error:, hint:), and the shell goes on. */
  #say(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.ctx.log.info(`error: ${message}`);
    if (error instanceof ByocError && error.hint) this.ctx.log.info(`hint: ${error.hint}`);
  }

  /** `acme-prod r-0k3j9x 42m> `: where the statements go, under which request, and for how long still. */
  #prompt(): string {
    const main = `${this.options.service} ${this.engineer.tags.requestId} ${timeLeft(this.#watch?.remainingMs())}> `;
    // psql's continuation: the same width, so a multi-line statement lines up under the first line
    return this.#buffer.pending ? `${' '.repeat(Math.max(0, main.length - 3))}-> ` : main;
  }
}

/** Minutes are what an engineer plans with; seconds only in the last minute. */
function timeLeft(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms >= 60_000 ? formatCoarse(Math.floor(ms / 60_000) * 60_000) : formatCoarse(Math.floor(ms / 1000) * 1000);
}

/** A shell command rather than SQL: `\x ...` (but not a `\G` ending a statement), or a bare quit/exit/help. */
function isMeta(line: string): boolean {
  const trimmed = line.trim();
  return (/^\\/.test(trimmed) && !/^\\G\b/.test(trimmed)) || /^(quit|exit|help)\s*;?$/i.test(trimmed);
}
