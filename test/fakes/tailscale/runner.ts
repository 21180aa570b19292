import type { TailscaleRunOptions, TailscaleRunResult, TailscaleRunner } from '../../../src/tailscale/runner.js';
import { abortableDelay } from '../../../src/util/delay.js';

export interface ScriptedReply {
  /** Tested against the argv joined by single spaces. */
  match: RegExp;
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  delayMs?: number;
  /** Thrown instead of returning (e.g. TailscaleNotInstalledError). */
  error?: Error;
}

export interface ScriptedCall {
  args: string[];
  options: TailscaleRunOptions;
}

/** An in-process TailscaleRunner replaying scripted replies; it records calls and how many overlapped. */
export class ScriptedRunner implements TailscaleRunner {
  readonly calls: ScriptedCall[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly replies: ScriptedReply[]) {}

  async run(args: string[], options: TailscaleRunOptions = {}): Promise<TailscaleRunResult> {
    this.calls.push({ args, options });
    const reply = this.replies.find((candidate) => candidate.match.test(args.join(' ')));
    if (!reply) throw new Error(`ScriptedRunner: nothing scripted for \`tailscale ${args.join(' ')}\``);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (reply.delayMs) await abortableDelay(reply.delayMs, options.signal);
      if (reply.error) throw reply.error;
      return { stdout: reply.stdout ?? '', stderr: reply.stderr ?? '', exitCode: reply.exitCode ?? 0 };
    } finally {
      this.inFlight -= 1;
    }
  }

  argsOf(pattern: RegExp): string[][] {
    return this.calls.map((call) => call.args).filter((args) => pattern.test(args.join(' ')));
  }
}

