import type { Context } from '../context.js';
import type { SandboxHost } from './sandbox.js';
import { nodeSandboxSystem } from './system.js';

/** The real host for a command or the broker: this machine's processes, the context's clock and environment. */
export function sandboxHostFor(ctx: Context, progress = true): SandboxHost {
  return {
    env: ctx.env,
    clock: ctx.clock,
    system: nodeSandboxSystem(),
    ...(progress ? { progress: (message: string) => ctx.log.info(message) } : {}),
  };
}
