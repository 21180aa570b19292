import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'vitest';
import { findSandboxBinaries } from '../../src/sandbox/sandbox.js';
import { FakeClock } from '../fakes/context.js';

/**
 * Whether the real-binaries tier can run here. Missing binaries skip it with a message, except under
 * CI=true, where a missing binary is a failure: this tier may never be skipped silently in CI.
 */
export function sandboxTier(name: string): boolean {
  const binaries = findSandboxBinaries(process.env, { clickhouse: process.env.BYOC_SANDBOX_CLICKHOUSE_BIN, nginx: process.env.BYOC_SANDBOX_NGINX_BIN });
  const missing = [!binaries.clickhouse && 'clickhouse-server', !binaries.nginx && 'nginx'].filter(Boolean).join(' and ');
  if (!missing) return true;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('runs under CI=true', () => {
        throw new Error(`CI=true but ${missing} is missing; .ci/run installs clickhouse-server and nginx-light`);
      });
    });
  } else {
    console.warn(`${name} skipped: ${missing} not installed (apt-get update && apt-get install -y clickhouse-server nginx-light)`);
  }
  return false;
}

/** A clock that really waits: the sandbox and the certificates live in real time. */
export function realClock(): FakeClock {
  return Object.assign(new FakeClock(), {
    now: () => new Date(),
    sleep: (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined),
  });
}
