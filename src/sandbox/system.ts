/**
 * The operating-system boundary of the sandbox: starting, signalling and watching processes. Domain code gets a
 * {@link SandboxSystem}; {@link nodeSandboxSystem} is the real one, tests of the orchestration can pass a fake.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { Env } from '../context.js';

export interface RunResult {
  /** null when the process was killed by a signal or could not start */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** the executable does not exist */
  notFound: boolean;
  timedOut: boolean;
}

export interface SandboxSystem {
  /** nginx needs `user root;` then, and only root may install packages */
  readonly isRoot: boolean;
  /**
   * Starts a long-running server in its own session (so a Ctrl-C of byoc does not reach it), stdout and stderr
   * appended to files, and returns its pid once it has been spawned.
   */
  spawnDetached(command: string, args: readonly string[], options: { env: Env; cwd: string; stdoutFile: string; stderrFile: string }): Promise<number>;
  /** Runs a command to its exit (not to the close of its pipes: a daemon may keep them). */
  run(command: string, args: readonly string[], options: { env: Env; timeoutMs: number }): Promise<RunResult>;
  /** Alive and not a zombie. */
  isAlive(pid: number): boolean;
  /** Signals a process, or its whole process group; a process that is already gone is not an error. */
  kill(pid: number, signal: 'SIGTERM' | 'SIGKILL' | 'SIGHUP', options?: { group?: boolean }): void;
  /** Direct children of a process (Linux /proc); empty where that cannot be known. */
  children(pid: number): number[];
  /** The command line a process shows (nginx rewrites it, e.g. "nginx: worker process is shutting down"). */
  processTitle(pid: number): string | undefined;
}

const childEnv = (env: Env) => Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));

export function nodeSandboxSystem(): SandboxSystem {
  return {
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    spawnDetached(command, args, { env, cwd, stdoutFile, stderrFile }) {
      const out = openSync(stdoutFile, 'a', 0o600);
      const err = openSync(stderrFile, 'a', 0o600);
      return new Promise<number>((resolve, reject) => {
        const child = spawn(command, [...args], { cwd, env: childEnv(env), detached: true, stdio: ['ignore', out, err] });
        const done = () => {
          closeSync(out);
          closeSync(err);
        };
        child.once('error', (error) => {
          done();
          reject(error);
        });
        child.once('spawn', () => {
          done();
          child.unref();
          resolve(child.pid!);
        });
      });
    },
    run(command, args, { env, timeoutMs }) {
      return new Promise<RunResult>((resolve) => {
        const child = spawn(command, [...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let timedOut = false;
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);
        const finish = (exitCode: number | null, notFound = false) => {
          clearTimeout(timer);
          // A daemonising child (nginx) may leave its pipes to a grandchild: stop reading them.
          child.stdout.destroy();
          child.stderr.destroy();
          resolve({ exitCode, stdout, stderr, notFound, timedOut });
        };
        child.once('error', (error: NodeJS.ErrnoException) => finish(null, error.code === 'ENOENT'));
        child.once('exit', (code) => setImmediate(() => finish(code)));
      });
    },
    isAlive(pid) {
      try {
        process.kill(pid, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
      }
      // A zombie still answers signal 0; its parent just has not reaped it yet.
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
      } catch {
        return true;
      }
    },
    kill(pid, signal, options = {}) {
      try {
        process.kill(options.group ? -pid : pid, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    },
    children(pid) {
      let entries: string[];
      try {
        entries = readdirSync('/proc');
      } catch {
        return [];
      }
      const children: number[] = [];
      for (const entry of entries) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (Number(fields[1]) === pid && fields[0] !== 'Z') children.push(Number(entry));
        } catch {
          // the process ended while we looked
        }
      }
      return children;
    },
    processTitle(pid) {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
      } catch {
        return undefined;
      }
    },
  };
}
