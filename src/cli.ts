import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { isatty } from 'node:tty';
import { defaultClients } from './clients.js';
import type { ContextBase } from './context.js';
// Static: bin/ answered --version and plain help before this module loaded, so whatever gets here needs main, and
// one module graph loads faster than this module and then its imports.
import { main } from './main.js';
import { ConsumerGone } from './util/stream.js';

/** The process boundary: the only module (after bin/) that reads `process` and hands it to everything else. */
export async function runFromProcess(scriptPath: string): Promise<void> {
  const argv = process.argv.slice(2);
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const controller = new AbortController();
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    controller.abort(new DOMException('interrupted', 'AbortError'));
    // A second signal, or work that ignores the first, still ends the process: at once, as interrupted (130 for
    // SIGTERM too: the one code scripts handle for "stopped from outside"). A served broker draining its requests
    // loses nothing it acknowledged (each decision is on disk before its answer); what was in flight gets no answer.
    const now = () => {
      process.stderr.write('byoc: stopping at once (second signal)\n');
      process.exit(130);
    };
    process.once('SIGINT', now);
    process.once('SIGTERM', now);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // stdout's reader went away (`| head -1`): the one place that hears it. The command is aborted with a reason that
  // main ends quietly with exit 0, and stopping its reads cancels a running query on the server.
  let consumerGone = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (consumerGone) return;
    consumerGone = true;
    controller.abort(new ConsumerGone());
  });
  // process.stdin builds a stream (~2 ms) that only `byoc query -` and the shell read; whether it is a terminal needs none.
  const stdin = { isTTY: isatty(0), [Symbol.asyncIterator]: () => process.stdin[Symbol.asyncIterator](), stream: () => process.stdin };
  const base: ContextBase = {
    io: { stdout: process.stdout, stderr: process.stderr, stdin },
    env: process.env,
    cwd: process.cwd(),
    clock: { now: () => new Date(), sleep: (ms, signal) => delay(ms, undefined, signal ? { signal } : undefined) },
    signal: controller.signal,
    version,
    self: { node: process.execPath, script: scriptPath },
    clients: defaultClients(),
  };
  const code = await main(argv, base);
  // main decides whether finishing after a signal is success (a server stopping) or interrupted work (130).
  process.exitCode = consumerGone ? 0 : interrupted && code !== 0 ? 130 : code;
}

