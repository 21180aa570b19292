/**
 * The command frame, by idea: definition (defineCommand, option builders), input resolution (flag > env > file >
 * default, one validator per kind) and rendering (json | ink | text). This module re-exports the three, so a
 * command imports from one place, and runs one command through them.
 */
import type { Context } from './context.js';
import { isAbort, type ByocError } from './errors.js';
import type { AnyCommand } from './command/definition.js';
import { resolveInput, type RawInvocation } from './command/input.js';
import { renderResult } from './command/render.js';

export * from './command/definition.js';
export * from './command/input.js';
export * from './command/render.js';

/** Runs a command and writes exactly one rendering of its result to stdout. */
export async function runCommand(definition: AnyCommand, raw: RawInvocation, ctx: Context): Promise<ByocError | undefined> {
  const input = await resolveInput(definition, raw, ctx);
  const result = await definition.run(input as never, ctx);
  try {
    await renderResult(definition, result, ctx);
  } catch (error) {
    // A server that streams its output until Ctrl-C or SIGTERM (byoc proxy) has finished it when it stopped.
    if (!(definition.stopsOnSignal && ctx.signal.aborted && (isAbort(error) || error === ctx.signal.reason))) throw error;
  }
  return definition.outcome?.(result);
}
