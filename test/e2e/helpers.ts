import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

export const BYOC_BIN = fileURLToPath(new URL('../../bin/byoc.js', import.meta.url));

/** Spawns the built CLI the way a runbook would: no TTY, a clean environment, never throws on exit codes. */
export async function byoc(args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string; timeout?: number } = {}) {
  const execaOptions: Options = {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home', ...options.env },
    cwd: options.cwd ?? '/',
    timeout: options.timeout ?? 30_000,
    input: options.input ?? '',
    stripFinalNewline: false,
  };
  const result = await execa(process.execPath, [BYOC_BIN, ...args], execaOptions);
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}
