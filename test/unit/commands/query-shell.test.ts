/**
 * `byoc query SERVICE` with no SQL on a terminal: the interactive shell, driven in-process through the whole CLI
 * with a keystroke stream as stdin (readline in terminal mode reads it as it would a TTY) against the fake
 * ClickHouse over mutual TLS, and a broker in process.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import { main } from '../../../src/main.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../fakes/clickhouse-server.js';
import { runCli, testBase, type FakeClock } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const HOST = 'ch.acme.example';
const LONG = 'SELECT number FROM system.numbers';
const MINUTE = 60_000;

let server: FakeClickHouse;
let caPem: string;
let serverKeys: { certPem: string; keyPem: string };

beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  serverKeys = await testServerKeys([HOST]);
  server = await startFakeClickHouse({ ...serverKeys, clientCa: caPem, answer, endless: (query) => query.sql.startsWith(LONG) });
});
afterAll(async () => {
  await server.close();
});

function answer(query: RecordedQuery) {
  if (query.sql.includes('throwIf')) return { error: { code: 395, message: 'Value passed to \'throwIf\' function is non zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)', status: 500 } };
  if (query.sql.startsWith(LONG)) return { names: ['number'], types: ['UInt64'], rows: Array.from({ length: 50 }, (_, index) => [String(index)]) };
  if (query.sql.includes('system.columns')) return { names: ['table', 'name', 'type'], types: ['String', 'String', 'String'], rows: [] };
  const named = /SELECT (\d+) AS (\w+)/.exec(query.sql);
  if (named) return { names: [named[2]!], types: ['UInt8'], rows: [[named[1]!]] };
  return { names: ['x'], types: ['UInt8'], rows: [['1']] };
}

/** An engineer with an approved 2-hour request for acme-prod on the fake server; `clock` drives the broker and byoc. */
async function engineer(clock = new ManualClock(new Date()), port = server.port) {
  const stateDir = tempDir();
  const { broker } = await openTestBroker(stateDir, clock as unknown as FakeClock); // the broker reads only now()
  const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-7', duration: '2h' });
  await broker.approve('bob@vendor.example', request.id);
  const cwd = tempDir({ 'ca.pem': caPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${port}", caFile: ./ca.pem }\n`);
  return { cwd, stateDir, clock, broker, requestId: request.id, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
}

type Engineer = Awaited<ReturnType<typeof engineer>>;

/** The shell on a terminal: keys typed into stdin, the screen read from stdout and stderr. */
function openShell(setup: Engineer, options: { args?: string[] } = {}) {
  const keys = new PassThrough();
  const harness = testBase({ cwd: setup.cwd, env: setup.env, clients: setup.clients, keys, stdoutTTY: true, stderrTTY: false });
  // the grant watch sleeps on this clock: only the test moves it (FakeClock's sleeps would run it to its end at once)
  harness.base.clock = setup.clock;
  const exited = main(['query', 'acme-prod', ...(options.args ?? [])], harness.base);
  const screen = () => stripVTControlCharacters(harness.stdout.text);
  const prompts = () => screen().split(/acme-prod r-[0-9a-z]+ [0-9hms]+> | {3,}-> /).length - 1;
  /** waits until `check` holds (the shell answers asynchronously) */
  const until = async (check: () => boolean, what: string) => {
    for (let attempt = 0; attempt < 1000; attempt++) {
      if (check()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`timed out waiting for ${what}\nstdout: ${screen()}\nstderr: ${harness.stderr.text}`);
  };
  /** types `text` and waits for the next prompt (the shell answered and is ready) */
  const type = async (text: string) => {
    const before = prompts();
    keys.write(text);
    await until(() => prompts() > before, `a prompt after ${JSON.stringify(text)}`);
  };
  return { keys, stdout: harness.stdout, stderr: harness.stderr, exited, screen, prompts, until, type };
}

const sentSince = (before: number) => server.queries.slice(before).filter((query) => !query.sql.startsWith('KILL'));

describe('byoc query SERVICE on a terminal opens a shell', () => {
  it('runs statements ended by ; across lines, tagged like byoc query, and Ctrl-D exits 0', async () => {
    // Given an engineer at a terminal
    const setup = await engineer();
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // When a statement is typed over two lines, then two on one line
    await shell.type('SELECT 7 AS seven\r');
    expect(shell.screen()).toMatch(/ {2,}-> $/);
    await shell.type('FROM system.one;\r');
    await shell.type('SELECT 8 AS eight FROM system.one; SELECT 9 AS nine FROM system.one;\r');
    // Then each ran once as typed, with byoc's tags, and its rows were printed as a table
    const sent = sentSince(before);
    expect(sent.map((query) => query.sql)).toEqual(['SELECT 7 AS seven\nFROM system.one', 'SELECT 8 AS eight FROM system.one', 'SELECT 9 AS nine FROM system.one']);
    for (const query of sent) {
      expect(query.queryId).toMatch(new RegExp(`^byoc-${setup.requestId}-[0-9a-f-]{36}$`));
      expect(query.settings.readonly).toBe('1');
      expect(query.settings.log_comment).toContain(setup.requestId);
      expect(query.userAgent).toContain(`request ${setup.requestId}`);
    }
    expect(shell.screen()).toMatch(/seven\n7\n/);
    expect(shell.screen()).toMatch(/nine\n9\n/);
    // And Ctrl-D on an empty line ends the shell with exit 0
    shell.keys.write('\x04');
    expect(await shell.exited).toBe(0);
  });

  it('keeps one history entry per statement in a 0600 file (folder 0700), recalled with the up arrow next time', async () => {
    // Given a shell where a two-line statement and a one-line one ran
    const setup = await engineer();
    const first = openShell(setup);
    await first.until(() => first.prompts() === 1, 'the first prompt');
    await first.type('SELECT 3 AS three\r');
    await first.type('FROM system.one;\r');
    await first.type('SELECT 4 AS four FROM system.one;\r');
    first.keys.write('\\q\r');
    expect(await first.exited).toBe(0);
    // Then the file holds both, the two-line one as one entry, private to the engineer
    const file = path.join(setup.stateDir, 'shell-history', 'acme-prod.jsonl');
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as string)).toEqual([
      'SELECT 3 AS three\nFROM system.one;',
      'SELECT 4 AS four FROM system.one;',
      '\\q',
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // When a new shell recalls the entry before \q and the one before it, and runs it
    const second = openShell(setup);
    await second.until(() => second.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // (each arrow redraws the prompt: wait for the query itself)
    second.keys.write('\x1b[A\x1b[A\x1b[A\r');
    await second.until(() => sentSince(before).length > 0, 'the recalled statement');
    // Then the two-line statement ran again, whole
    expect(sentSince(before).map((query) => query.sql)).toEqual(['SELECT 3 AS three\nFROM system.one']);
    second.keys.write('\x04');
    expect(await second.exited).toBe(0);
  });

  it('\\G gives vertical output, \\format switches formats, \\? helps, \\presets lists and \\preset runs one', async () => {
    const setup = await engineer();
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // When a statement ends with \G, then the format is CSV, then a preset runs
    await shell.type('SELECT 5 AS five FROM system.one\\G\r');
    await shell.type('\\format csv\r');
    await shell.type('SELECT 6 AS six FROM system.one;\r');
    await shell.type('\\format xml\r');
    await shell.type('\\?\r');
    await shell.type('\\presets\r');
    await shell.type('\\preset merges\r');
    // Then the server was asked for FORMAT Vertical, then CSV, then the preset's schema and SQL
    const sent = sentSince(before);
    expect(sent.slice(0, 2).map((query) => [query.sql, query.format])).toEqual([
      ['SELECT 5 AS five FROM system.one', 'Vertical'],
      ['SELECT 6 AS six FROM system.one', 'CSVWithNames'],
    ]);
    expect(shell.screen()).toContain('"six"\n"6"\n');
    expect(shell.stderr.text).toContain('error: no output format "xml"');
    expect(shell.screen()).toMatch(/merges {2,}\S/);
    expect(shell.screen()).toContain('\\preset NAME [CLUSTER]');
    expect(sent.slice(2).map((query) => query.sql).join('\n')).toContain('system.merges');
    expect(sent.at(-1)!.format).toBe('CSVWithNames');
    shell.keys.write('\x04');
    expect(await shell.exited).toBe(0);
  });

  it('a backslash command in the middle of a statement runs at once and the statement goes on (as psql), but not inside a string', async () => {
    const setup = await engineer();
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // When a statement is begun, the format switched on the next line, and the statement finished
    await shell.type('SELECT 5 AS five\r');
    await shell.type('\\format csv\r');
    // Then the prompt still continues the statement
    expect(shell.screen()).toMatch(/ {2,}-> $/);
    await shell.type('FROM system.one;\r');
    // And the statement ran whole, in the new format, without the command in it
    expect(sentSince(before).map((query) => [query.sql, query.format])).toEqual([['SELECT 5 AS five\nFROM system.one', 'CSVWithNames']]);
    expect(shell.screen()).toContain('"five"\n"5"\n');
    // When a backslash line comes inside an open string, Then it is the string's text
    await shell.type("SELECT 'a\r");
    await shell.type('\\q\r');
    await shell.type("' AS text FROM system.one;\r");
    expect(sentSince(before).at(-1)!.sql).toBe("SELECT 'a\n\\q\n' AS text FROM system.one");
    // And \q in the middle of a statement leaves at once, with nothing sent
    await shell.type('SELECT 6 AS six\r');
    const sent = sentSince(before).length;
    shell.keys.write('\\q\r');
    expect(await shell.exited).toBe(0);
    expect(sentSince(before)).toHaveLength(sent);
  });

  it('a statement the guard refuses is not sent, says why, and the shell goes on', async () => {
    const setup = await engineer();
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // When the engineer types a read of customer data, a statement the server fails, then a system query
    await shell.type('SELECT * FROM default.orders;\r');
    await shell.type('SELECT throwIf(1) FROM system.one;\r');
    await shell.type('SELECT 2 AS two FROM system.one;\r');
    // Then the first never reached the server, the refusal and the server's error say why, and the last one ran
    expect(shell.stderr.text).toMatch(/error: refused: .*default\.orders/);
    expect(shell.stderr.text).toMatch(/error: ClickHouse error 395: .*throwIf/);
    expect(sentSince(before).map((query) => query.sql)).toEqual(['SELECT throwIf(1) FROM system.one', 'SELECT 2 AS two FROM system.one']);
    expect(shell.screen()).toMatch(/two\n2\n/);
    shell.keys.write('exit\r');
    expect(await shell.exited).toBe(0);
  });

  it('Ctrl-C during a slow query kills it on the server and the shell answers the next statement', async () => {
    const setup = await engineer();
    const shell = openShell(setup, { args: ['--format', 'tsv', '--max-rows', '0'] });
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    // When a query that never ends runs and rows are streaming
    shell.keys.write(`${LONG};\r`);
    await shell.until(() => /number\n0\n/.test(shell.screen()), 'the first rows');
    const [query] = sentSince(before);
    expect(server.processes.has(query!.queryId!)).toBe(true);
    // And types a statement meanwhile and starts another, then presses Ctrl-C
    shell.keys.write('SELECT 3 AS typed_ahead FROM system.one;\rSELECT 4 AS half');
    await shell.type('\x03');
    // Then the server no longer runs it (KILL QUERY named it), the shell said so, and goes on
    expect(server.queries.slice(before).filter((sent) => sent.sql.startsWith('KILL QUERY') && sent.sql.includes(query!.queryId!))).toHaveLength(1);
    expect(server.processes.has(query!.queryId!)).toBe(false);
    expect(shell.stderr.text).toContain('cancelled: byoc stopped the query on the server');
    // (what was typed during the query goes with it: running it after a cancel would surprise)
    expect(shell.stderr.text).toContain('(1 line typed meanwhile dropped with the cancel)');
    expect(sentSince(before).map((sent) => sent.sql)).toEqual([LONG]);
    // (the half-typed line went too: what is typed next is a statement of its own)
    await shell.type('SELECT 1 AS one FROM system.one;\r');
    expect(shell.screen()).toMatch(/one\n1\n/);
    expect(sentSince(before).map((sent) => sent.sql)).toEqual([LONG, 'SELECT 1 AS one FROM system.one']);
    shell.keys.write('\x04');
    expect(await shell.exited).toBe(0);
  });

  it('lines typed while a statement runs are not lost: they run after it, in order', async () => {
    // Given a server that takes 300 ms per answer
    const slow = await startFakeClickHouse({ ...serverKeys, clientCa: caPem, answer, answerDelayMs: 300 });
    try {
      const setup = await engineer(undefined, slow.port);
      const shell = openShell(setup);
      await shell.until(() => shell.prompts() === 1, 'the first prompt');
      // When a second statement is typed while the first still runs
      shell.keys.write('SELECT 1 AS first FROM system.one;\r');
      await shell.until(() => slow.queries.length > 0, 'the first statement sent');
      shell.keys.write('SELECT 2 AS second FROM system.one;\r');
      // Then both ran, one after the other, each answer under its statement
      await shell.until(() => /second\n2\n/.test(shell.screen()), 'the second answer');
      expect(slow.queries.map((query) => query.sql)).toEqual(['SELECT 1 AS first FROM system.one', 'SELECT 2 AS second FROM system.one']);
      expect(shell.screen().indexOf('first\n1\n')).toBeLessThan(shell.screen().indexOf('second\n2\n'));
      shell.keys.write('\x04');
      expect(await shell.exited).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('Ctrl-C while typing clears the statement being typed, not the shell', async () => {
    const setup = await engineer();
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    await shell.type('SELECT 1 AS lost\r');
    await shell.type('FROM sys\x03');
    await shell.type('SELECT 2 AS kept FROM system.one;\r');
    expect(sentSince(before).map((query) => query.sql)).toEqual(['SELECT 2 AS kept FROM system.one']);
    shell.keys.write('\x04');
    expect(await shell.exited).toBe(0);
  });
});

describe('the shell and the grant', () => {
  it('warns at 10 and 2 minutes before the end, then ends with exit 4 when the grant ends', async () => {
    // Given a shell on a 2-hour grant, with a clock the test moves
    const setup = await engineer();
    const { clock } = setup;
    const shell = openShell(setup);
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    expect(shell.screen()).toMatch(/acme-prod r-[0-9a-z]+ (1h59m|2h)> $/);
    const [first, second] = [10 * MINUTE, 2 * MINUTE];
    // When the engineer is typing a statement as time moves to 10 minutes before the end (the broker polled on the way)
    shell.keys.write('SELECT 42 AS answer FROM system.one');
    for (let minutes = 0; minutes < 110; minutes += 5) await clock.advance(5 * MINUTE);
    await shell.until(() => shell.stderr.text.includes('ends in 10m'), 'the 10-minute warning');
    expect(shell.stderr.text).not.toContain('ends in 2m');
    // Then the prompt, redrawn under the warning, shows the time left and what was being typed, which still runs
    expect(shell.screen()).toMatch(/acme-prod r-[0-9a-z]+ 10m> SELECT 42 AS answer FROM system\.one$/);
    const before = server.queries.length;
    await shell.type(';\r');
    expect(sentSince(before).map((query) => query.sql)).toEqual(['SELECT 42 AS answer FROM system.one']);
    await clock.advance(first - second);
    await shell.until(() => shell.stderr.text.includes('ends in 2m'), 'the 2-minute warning');
    // And at the end the shell ends with the grant's refusal
    await clock.advance(second);
    expect(await shell.exited).toBe(4);
    // (the watch's end and the broker's last answer race: either says the grant is over)
    expect(shell.stderr.text).toMatch(/error: your (access to acme-prod \(r-[0-9a-z]+\) ended at |request r-[0-9a-z]+ for acme-prod is expired)/);
  });

  it('a revocation ends the shell with exit 4, cancelling the query that runs', async () => {
    const setup = await engineer();
    const { clock } = setup;
    const shell = openShell(setup, { args: ['--format', 'tsv', '--max-rows', '0'] });
    await shell.until(() => shell.prompts() === 1, 'the first prompt');
    const before = server.queries.length;
    shell.keys.write(`${LONG};\r`);
    await shell.until(() => /number\n0\n/.test(shell.screen()), 'the first rows');
    // When an approver revokes the request and the next poll asks the broker
    await setup.broker.revoke('bob@vendor.example', setup.requestId, 'incident over');
    await clock.advance(15_000);
    // Then the shell ends with exit 4 naming the revocation, and the query no longer runs on the server
    expect(await shell.exited).toBe(4);
    expect(shell.stderr.text).toMatch(/revoked/);
    const [query] = sentSince(before);
    expect(server.processes.has(query!.queryId!)).toBe(false);
  });
});

describe('byoc query SERVICE without a terminal', () => {
  it('keeps asking for SQL (exit 2), naming the shell in the hint', async () => {
    const setup = await engineer();
    const result = await runCli(['query', 'acme-prod'], { cwd: setup.cwd, env: setup.env, clients: setup.clients });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no SQL to run');
    expect(result.stderr).toContain('opens a shell');
  });
});
