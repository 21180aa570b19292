import type { Env } from '../context.js';
import { ConfigError, RemoteError } from '../errors.js';

/** What one `tailscale …` invocation printed. A non-zero exit is data, not an error: its caller decides. */
export interface TailscaleRunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface TailscaleRunOptions {
  /** Overrides the runner's default for this call; the subprocess is killed when it elapses. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The one door to the `tailscale` CLI. It resolves with any exit code, and rejects only with
 * {@link TailscaleNotInstalledError}, {@link TailscaleTimeoutError}, an abort (the signal's reason)
 * or a {@link RemoteError} when the process could not run or was killed from outside.
 */
export interface TailscaleRunner {
  run(args: string[], options?: TailscaleRunOptions): Promise<TailscaleRunResult>;
}

const DEFAULT_TAILSCALE_BIN = 'tailscale';
const DEFAULT_TAILSCALE_TIMEOUT_MS = 30_000;

const NOT_INSTALLED_HINT =
  'Install Tailscale (https://tailscale.com/download; Linux: curl -fsSL https://tailscale.com/install.sh | sh), ' +
  'or point byoc at it with tailscale.bin in the configuration or BYOC_TAILSCALE_BIN.';

export class TailscaleNotInstalledError extends ConfigError {
  constructor(readonly bin: string) {
    super('tailscale_not_installed', `the tailscale CLI was not found: ${bin}`, { hint: NOT_INSTALLED_HINT });
  }
}

export class TailscaleTimeoutError extends RemoteError {
  constructor(
    readonly bin: string,
    readonly args: readonly string[],
    readonly timeoutMs: number,
    /** What the command printed before it was killed; a cut-short `tailscale ping` still holds pongs. */
    readonly partial: { stdout: string; stderr: string },
  ) {
    super('tailscale_timeout', `\`${[bin, ...args].join(' ')}\` did not finish within ${timeoutMs} ms`, {
      hint: 'tailscaled may be hung: check `tailscale status`, and restart it if it does not answer (Linux: sudo systemctl restart tailscaled).',
    });
  }
}

export interface ExecaRunnerOptions {
  /** The CLI to run: a path, or a name looked up on `env.PATH`. */
  bin?: string | undefined;
  /** The whole environment of the subprocess (nothing is inherited); PATH in it is where `bin` is looked up. */
  env: Env;
  timeoutMs?: number | undefined;
}

export function createExecaRunner({ bin = DEFAULT_TAILSCALE_BIN, env, timeoutMs = DEFAULT_TAILSCALE_TIMEOUT_MS }: ExecaRunnerOptions): TailscaleRunner {
  const childEnv = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return {
    async run(args, options = {}) {
      const { execa } = await import('execa');
      const limit = options.timeoutMs ?? timeoutMs;
      const result = await execa(bin, args, {
        reject: false,
        extendEnv: false,
        env: childEnv,
        stdin: 'ignore',
        timeout: limit,
        ...(options.signal ? { cancelSignal: options.signal } : {}),
      });
      const stdout = String(result.stdout ?? '');
      const stderr = String(result.stderr ?? '');
      if (result.isCanceled) throw options.signal?.reason ?? new DOMException('tailscale was interrupted', 'AbortError');
      if (result.timedOut) throw new TailscaleTimeoutError(bin, args, limit, { stdout, stderr });
      if (result.code === 'ENOENT') throw new TailscaleNotInstalledError(bin);
      if (typeof result.exitCode === 'number') return { stdout, stderr, exitCode: result.exitCode };
      throw new RemoteError(
        'tailscale_failed',
        `\`${[bin, ...args].join(' ')}\` failed: ${result.signal ? `killed by ${result.signal}` : (result.shortMessage ?? 'could not run')}`,
        { hint: `Run \`${bin} ${args.join(' ')}\` by hand to see what is wrong.`, cause: result.cause },
      );
    },
  };
}

declare module '../context.js' {
  interface Clients {
    tailscale: TailscaleRunner;
  }
}
