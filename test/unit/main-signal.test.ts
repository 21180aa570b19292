import { describe, expect, it } from 'vitest';
import type { CommandTree } from '../../commands/index.js';
import { defineCommand } from '../../src/command.js';
import { runCli } from '../fakes/context.js';

/** A command that notices the signal and finishes normally anyway, as a server loop or a follower does. */
const finishesAfterSignal = (stopsOnSignal: boolean) =>
  defineCommand({
    ...(stopsOnSignal ? { stopsOnSignal: true } : {}),
    async run(_input, ctx) {
      if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      return { done: true };
    },
    text: () => 'done',
  });

const tree: CommandTree = {
  manifest: [
    { file: 'server', description: 'stops on a signal', hidden: false, load: async () => finishesAfterSignal(true) },
    { file: 'worker', description: 'is cut short by a signal', hidden: false, load: async () => finishesAfterSignal(false) },
  ],
  groups: {},
};

describe('finishing after Ctrl-C or SIGTERM', () => {
  it.each([
    ['server', 0],
    ['worker', 130],
  ])('%s exits %i', async (name, code) => {
    // Given a command running when the process gets its first signal
    const controller = new AbortController();
    const running = runCli([name], { signal: controller.signal }, tree);
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new DOMException('interrupted', 'AbortError'));
    // When it finishes normally after it, Then only a command whose normal end is a signal exits 0
    const result = await running;
    expect(result.exitCode).toBe(code);
    expect(result.stdout).toBe('done\n');
  });
});
