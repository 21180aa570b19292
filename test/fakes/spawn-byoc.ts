import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BYOC_BIN = fileURLToPath(new URL('../../bin/byoc.js', import.meta.url));

export interface SpawnedByoc {
  child: ChildProcess;
  /** the first chunk of stdout, once it came */
  firstChunk: Promise<string>;
  /** resolves when the process has exited, with its exit code and everything it wrote to stderr */
  exited: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
}

/**
 * The built binary as a person's shell runs it: no TTY, a clean environment, the real process boundary (signals,
 * a pipe that closes). With `closeStdoutAfterFirstChunk`, the reader closes stdout after the first chunk, as
 * `| head -1` does.
 */
export function spawnByoc(args: string[], options: { cwd: string; env: Record<string, string>; closeStdoutAfterFirstChunk?: boolean; timeoutMs?: number }): SpawnedByoc {
  const child = spawn(process.execPath, [BYOC_BIN, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const firstChunk = new Promise<string>((resolve) => {
    child.stdout.once('data', (chunk: Buffer) => {
      resolve(chunk.toString());
      if (options.closeStdoutAfterFirstChunk) child.stdout.destroy();
    });
  });
  if (!options.closeStdoutAfterFirstChunk) child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stderr, stdout });
    });
  });
  return { child, firstChunk, exited };
}
