import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ClientFactories, ContextBase, Env, OutputStream } from '../../src/context.js';
import { createContext, type Context } from '../../src/context.js';
import { main } from '../../src/main.js';
import { defaultClients } from '../../src/clients.js';
import { settingsCatalog, type CommandTree } from '../../commands/index.js';

/** A captured output stream; `isTTY` and `columns` make it look like a terminal when asked. */
export class CapturedStream extends EventEmitter implements OutputStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY = false,
    readonly columns = 100,
  ) {
    super();
  }
  readonly rows = 40;
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

/** A clock that only moves when told to; `sleep` advances it instead of waiting. */
export class FakeClock {
  constructor(private current = new Date('2026-11-21T10:00:00.000Z')) {}
  now = (): Date => new Date(this.current);
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    this.advance(ms);
    await Promise.resolve();
  };
}

export interface TestSetup {
  env?: Env;
  cwd?: string;
  stdoutTTY?: boolean;
  stderrTTY?: boolean;
  stdinTTY?: boolean;
  stdin?: string;
  /** an interactive terminal's stdin (the shell): left open, the test writes keystrokes to it */
  keys?: PassThrough;
  clients?: Partial<ClientFactories>;
  clock?: FakeClock;
  signal?: AbortSignal;
}

export interface TestHarness {
  base: ContextBase;
  stdout: CapturedStream;
  stderr: CapturedStream;
  clock: FakeClock;
}

export function testBase(setup: TestSetup = {}): TestHarness {
  const stdout = new CapturedStream(setup.stdoutTTY ?? false);
  const stderr = new CapturedStream(setup.stderrTTY ?? false);
  const input = setup.keys ?? new PassThrough({ encoding: 'utf8' });
  const stdin = Object.assign(input, { isTTY: setup.stdinTTY ?? Boolean(setup.keys), stream: () => input });
  if (!setup.keys) stdin.end(setup.stdin ?? '');
  const clock = setup.clock ?? new FakeClock();
  const base: ContextBase = {
    io: { stdout, stderr, stdin },
    // Tests never read the developer's real configuration: HOME and XDG point nowhere unless set.
    env: { HOME: '/nonexistent-home', ...setup.env },
    cwd: setup.cwd ?? '/',
    clock,
    signal: setup.signal ?? new AbortController().signal,
    version: '0.0.0-test',
    self: { node: process.execPath, script: '/opt/byoc/bin/byoc.js' },
    // Real client factories unless a test fakes them: a fake implements only what the test needs.
    clients: { ...defaultClients(), ...setup.clients },
  };
  return { base, stdout, stderr, clock };
}

/** A command context as the run adapter would build it, for calling `run` directly. */
export function testContext(
  setup: TestSetup & { json?: boolean; color?: boolean; configFile?: string } = {},
): TestHarness & { ctx: Context } {
  const harness = testBase(setup);
  const ctx = createContext(harness.base, {
    configFile: setup.configFile,
    flags: new Map(),
    settings: settingsCatalog,
    output: {
      json: setup.json ?? false,
      color: setup.color ?? false,
      verbose: false,
      stdoutIsTTY: setup.stdoutTTY ?? false,
      stderrIsTTY: setup.stderrTTY ?? false,
      stdinIsTTY: setup.stdinTTY ?? false,
    },
  });
  return { ...harness, ctx };
}

/** Runs the whole CLI in-process, as `byoc ...argv` would, and captures everything (a test may bring its own commands). */
export async function runCli(argv: string[], setup: TestSetup = {}, tree?: CommandTree) {
  const harness = testBase(setup);
  const exitCode = await main(argv, harness.base, tree);
  return { exitCode, stdout: harness.stdout.text, stderr: harness.stderr.text, clock: harness.clock };
}
