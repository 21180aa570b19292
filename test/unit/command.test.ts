import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import { defineCommand, renderResult, resolveInput, runCommand } from '../../src/command.js';
import { NotAllowedError, PendingError, UsageError, ConfigError } from '../../src/errors.js';
import { SHARED } from '../../src/options.js';
import { testContext } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';

// Colour escapes as ink writes them: ESC [ ... m
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const greeting = defineCommand({
  args: { name: { description: 'who', required: true } },
  async run({ name }) {
    return { name, items: [{ id: 'r-1', at: new Date('2026-11-21T09:00:00Z') }] };
  },
  text: (result) => `hello\t${result.name}`,
  async view(result) {
    const { Text } = await import('ink');
    return createElement(Text, { color: 'green' }, `Hello, ${result.name}!`);
  },
});

describe('the run adapter picks exactly one renderer', () => {
  it('prints one JSON document under --json, and nothing else', async () => {
    // Given a context in JSON mode on a TTY
    const { ctx, stdout, stderr } = testContext({ json: true, stdoutTTY: true });
    // When the command runs
    await runCommand(greeting, { args: { name: 'alice' }, flags: {} }, ctx);
    // Then stdout parses as exactly one document and stderr is empty
    expect(JSON.parse(stdout.text)).toEqual({ name: 'alice', items: [{ id: 'r-1', at: '2026-11-21T09:00:00.000Z' }] });
    expect(stderr.text).toBe('');
  });

  it('renders the ink view on a TTY', async () => {
    const { ctx, stdout } = testContext({ stdoutTTY: true });
    await runCommand(greeting, { args: { name: 'alice' }, flags: {} }, ctx);
    expect(stdout.text).toBe('Hello, alice!\n');
  });

  it('keeps ANSI colour out of the TTY view when colour is off, and in when it is on', async () => {
    const plain = testContext({ stdoutTTY: true, color: false });
    await renderResult(greeting, { name: 'bob' }, plain.ctx);
    expect(plain.stdout.text).not.toContain('\u001b[');
    const coloured = testContext({ stdoutTTY: true, color: true, env: { FORCE_COLOR: '1' } });
    await renderResult(greeting, { name: 'bob' }, coloured.ctx);
    expect(coloured.stdout.text.replace(ANSI_COLOUR, '')).toBe('Hello, bob!\n');
  });

  it('prints plain tab-separated text when piped', async () => {
    const { ctx, stdout } = testContext({ stdoutTTY: false });
    await runCommand(greeting, { args: { name: 'alice' }, flags: {} }, ctx);
    expect(stdout.text).toBe('hello\talice\n');
  });

  it('falls back to text on a TTY when the command has no view', async () => {
    const { ctx, stdout } = testContext({ stdoutTTY: true });
    const textOnly = defineCommand({ async run() { return 1; }, text: () => 'just text' });
    await runCommand(textOnly, { args: {}, flags: {} }, ctx);
    expect(stdout.text).toBe('just text\n');
  });

  it('streams NDJSON when the JSON form is an async iterable', async () => {
    const { ctx, stdout } = testContext({ json: true });
    const streaming = defineCommand({
      async run() { return [1, 2, 3]; },
      json: (rows) => (async function* () { for (const row of rows) yield { row }; })(),
      text: () => '',
    });
    await runCommand(streaming, { args: {}, flags: {} }, ctx);
    expect(stdout.text).toBe('{"row":1}\n{"row":2}\n{"row":3}\n');
  });

  it('waits for drain when stdout pushes back', async () => {
    // Given a stdout that refuses the first write until it drains
    const { ctx } = testContext();
    const written: string[] = [];
    let drain: (() => void) | undefined;
    ctx.io.stdout = {
      write: (chunk: string) => { written.push(chunk); return written.length > 1; },
      once: (_event: 'drain', listener: () => void) => { drain = listener; },
    };
    const streaming = defineCommand({
      async run() { return null; },
      text: () => (async function* () { yield 'a\n'; yield 'b\n'; })(),
    });
    // When rendering starts, Then it stops after the first chunk until drain fires
    const done = renderResult(streaming, null, ctx);
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toEqual(['a\n']);
    drain!();
    await done;
    expect(written).toEqual(['a\n', 'b\n']);
  });

  it('returns the outcome of a printed result so main can exit non-zero', async () => {
    const { ctx, stdout } = testContext({ json: true });
    const pending = defineCommand({
      async run() { return { id: 'r-1', status: 'pending' }; },
      text: () => '',
      outcome: (result) => (result.status === 'pending' ? new PendingError('request_pending', 'r-1 is pending') : undefined),
    });
    const outcome = await runCommand(pending, { args: {}, flags: {} }, ctx);
    expect(JSON.parse(stdout.text)).toEqual({ id: 'r-1', status: 'pending' });
    expect(outcome?.exitCode).toBe(8);
  });
});

describe('options resolve flag > env > file > default', () => {
  // Given a command taking two shared options: connect.count (1..20, default 3) and connect.timeout (default 3s)
  const command = defineCommand({
    options: { count: SHARED.pingCount, timeout: SHARED.connectTimeout },
    async run(input) { return input; },
    text: () => '',
  });

  const setup = (env: Record<string, string> = {}) => {
    const dir = tempDir({ 'byoc.config.yaml': 'connect:\n  count: 5\n  timeout: 4s\n' });
    return testContext({ cwd: dir, env }).ctx;
  };

  it('uses the declared default when nothing else sets a value', async () => {
    const { ctx } = testContext({ cwd: tempDir() });
    expect(await resolveInput(command, { args: {}, flags: {} }, ctx)).toEqual({ count: 3, timeout: 3000 });
  });

  it('lets the file override the default', async () => {
    expect(await resolveInput(command, { args: {}, flags: {} }, setup())).toEqual({ count: 5, timeout: 4000 });
  });

  it('lets the environment override the file', async () => {
    const ctx = setup({ BYOC_CONNECT_TIMEOUT: '90s' });
    expect(await resolveInput(command, { args: {}, flags: {} }, ctx)).toEqual({ count: 5, timeout: 90_000 });
  });

  it('lets the flag override the environment', async () => {
    const ctx = setup({ BYOC_CONNECT_TIMEOUT: '90s' });
    const input = await resolveInput(command, { args: {}, flags: { timeout: '30s' } }, ctx);
    expect(input).toMatchObject({ timeout: 30_000 });
  });

  it('refuses a malformed flag value as usage (exit 2), naming the flag and the command\'s help', async () => {
    const attempt = resolveInput(command, { args: {}, flags: { timeout: 'soon' }, command: 'connect check' }, setup());
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow('--timeout: expected a duration');
    await expect(attempt).rejects.toMatchObject({ hint: "For example: --timeout 3s (the default); see 'byoc connect check --help' for --timeout (or set BYOC_CONNECT_TIMEOUT)." });
  });

  it('refuses a malformed environment value as configuration (exit 3), naming the variable', async () => {
    const attempt = resolveInput(command, { args: {}, flags: {} }, setup({ BYOC_PING_COUNT: 'two' }));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow('BYOC_PING_COUNT: expected a whole number from 1 to 20; got "two"');
  });
});

describe('typed errors carry their exit codes', () => {
  it.each([
    [new UsageError('x', 'm'), 2],
    [new ConfigError('x', 'm'), 3],
    [new NotAllowedError('x', 'm'), 4],
    [new PendingError('x', 'm'), 8],
  ])('%s exits %i', (error, code) => {
    expect(error.exitCode).toBe(code);
  });
});
