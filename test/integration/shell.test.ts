/**
 * Tier 3 for the interactive shell: the built binary on a real pseudo-terminal (util-linux `script`, as a person's
 * terminal runs it: raw mode, line editing, Ctrl-C as a keystroke, not a signal) against the real sandbox
 * (ClickHouse 18.16 behind nginx doing mutual TLS). What the server still runs is read as the customer from
 * system.processes. One sandbox for the file; afterAll always takes it down.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { serverUserFor } from '../../src/access/server-user.js';
import { sandboxTier, sandboxWorkspace } from './tier.js';

const available = sandboxTier('interactive shell integration tier');
const BYOC_BIN = fileURLToPath(new URL('../../bin/byoc.js', import.meta.url));

/** `byoc query sandbox` on a pseudo-terminal of 120 columns: keys in, the screen (stdout and stderr as one) out. */
function terminal(env: Record<string, string>, cwd: string) {
  const command = `stty cols 120 rows 40; exec '${process.execPath}' '${BYOC_BIN}' query sandbox`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home', TERM: 'xterm', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  const text = () => stripVTControlCharacters(screen).replace(/\r/g, '');
  const until = async (check: (text: string) => boolean, what: string, limitMs = 15_000) => {
    for (const start = Date.now(); Date.now() - start < limitMs; await delay(50)) if (check(text())) return;
    throw new Error(`timed out waiting for ${what}; the terminal shows:\n${text()}`);
  };
  return { child, exited, text, until, type: (keys: string) => child.stdin.write(keys) };
}

describe.skipIf(!available)('byoc query SERVICE: the shell on a real terminal against the sandbox', () => {
  const sandbox = sandboxWorkspace('shell');
  const { as, customer } = sandbox;
  const runningFor = async (user: string) => (await customer(`SELECT query_id FROM system.processes WHERE user = '${user}' AND query NOT LIKE 'KILL QUERY%'`)).trim();

  it('a multi-line statement, Ctrl-C on a slow query (gone from the server), history recall, then Ctrl-D exits 0', async () => {
    // Given an engineer with an approved request and a certificate, at a terminal
    const { identity, requestId } = await sandbox.approvedEngineer('shell', 'shell');
    expect((await as(identity, ['cert', 'get', 'sandbox'])).exitCode).toBe(0);
    const serverUser = serverUserFor(requestId, identity);
    const shell = terminal({ BYOC_STATE_DIR: sandbox.stateDir, BYOC_USER: identity }, sandbox.cwd);
    try {
      const prompt = new RegExp(`sandbox ${requestId} \\d+[hm]\\S*> `, 'g');
      const prompts = (text: string) => text.match(prompt)?.length ?? 0;
      await shell.until((text) => prompts(text) === 1, 'the prompt');
      // When a statement is typed over two lines
      shell.type("SELECT 'multi' AS word,\r");
      await shell.until((text) => / {3,}-> $/.test(text), 'the continuation prompt');
      shell.type('  1 + 1 AS two FROM system.one;\r');
      // Then it ran as one statement and its row is on the screen as a table
      await shell.until((text) => prompts(text) === 2, 'the prompt after the statement');
      expect(shell.text()).toMatch(/word\s+two\nmulti\s+2\n/);

      // When a query that runs until stopped is running on the server, and the engineer presses Ctrl-C
      shell.type('SELECT count() FROM system.numbers;\r');
      for (let attempt = 0; attempt < 200 && (await runningFor(serverUser)) === ''; attempt++) await delay(50);
      expect(await runningFor(serverUser)).not.toBe('');
      shell.type('\x03');
      // Then the shell says it was cancelled, the server no longer runs it, and the shell answers the next statement
      await shell.until((text) => text.includes('cancelled: byoc stopped the query on the server') && prompts(text) === 3, 'the cancel and the next prompt');
      expect(await runningFor(serverUser)).toBe('');
      shell.type("SELECT 'still here' AS after;\r");
      await shell.until((text) => prompts(text) === 4, 'the prompt after the next statement');
      expect(shell.text()).toContain('still here');

      // When the engineer recalls the two-line statement with the up arrow (three entries back) and runs it again
      shell.type('\x1b[A\x1b[A\x1b[A\r');
      // Then it runs whole, as one entry
      await shell.until((text) => (text.match(/multi\s+2\n/g)?.length ?? 0) === 2, 'the recalled statement\'s answer');

      // When the engineer presses Ctrl-D
      shell.type('\x04');
      // Then byoc exits 0, and the history kept the two-line statement as one entry, private
      expect(await shell.exited).toBe(0);
      const history = path.join(sandbox.stateDir, 'shell-history', 'sandbox.jsonl');
      expect(statSync(history).mode & 0o777).toBe(0o600);
      expect(readFileSync(history, 'utf8')).toContain(`${JSON.stringify("SELECT 'multi' AS word,\n  1 + 1 AS two FROM system.one;")}\n`);
    } finally {
      shell.child.kill('SIGKILL');
    }
  }, 90_000);
});
