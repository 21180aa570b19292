import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSandboxBinaries } from '../../src/sandbox/sandbox.js';
import { FakeClock, runCli } from '../fakes/context.js';

/**
 * Whether the real-binaries tier can run here. Missing binaries skip it with a message, except under
 * CI=true, where a missing binary is a failure: this tier may never be skipped silently in CI.
 */
export function sandboxTier(name: string): boolean {
  const binaries = findSandboxBinaries(process.env, sandboxBinSettings());
  const missing = [
    !binaries.clickhouse && 'clickhouse-server',
    !binaries.nginx && 'nginx',
    !binaries.prometheus && 'prometheus',
    !binaries.nodeExporter && 'prometheus-node-exporter',
  ].filter(Boolean).join(' and ');
  if (!missing) return true;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('runs under CI=true', () => {
        throw new Error(`CI=true but ${missing} is missing; .ci/run installs clickhouse-server, nginx-light, prometheus and prometheus-node-exporter`);
      });
    });
  } else {
    console.warn(`${name} skipped: ${missing} not installed (apt-get update && apt-get install -y clickhouse-server nginx-light prometheus prometheus-node-exporter)`);
  }
  return false;
}

/** The binaries' settings as `byoc sandbox up` reads them, so a CI image can point at binaries outside the usual folders. */
export function sandboxBinSettings() {
  return {
    clickhouse: process.env.BYOC_SANDBOX_CLICKHOUSE_BIN,
    nginx: process.env.BYOC_SANDBOX_NGINX_BIN,
    prometheus: process.env.BYOC_SANDBOX_PROMETHEUS_BIN,
    nodeExporter: process.env.BYOC_SANDBOX_NODE_EXPORTER_BIN,
  };
}

/** A clock that really waits: the sandbox and the certificates live in real time. */
function realClock(): FakeClock {
  return Object.assign(new FakeClock(), {
    now: () => new Date(),
    sleep: (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined),
  });
}

/** What `byoc sandbox up --json` reports, as far as these tests read it. */
interface SandboxUp {
  clickhouse: { httpPort: number };
  nginx: { url: string; metricsUrl: string; metricsPort: number };
  prometheus: { url: string; port: number };
  customer: { user: string; passwordFile: string };
  caFile: string;
}

/**
 * One sandbox for a test file, in its own state folder, started in beforeAll and always taken down in afterAll;
 * `as` runs byoc in-process as an identity (or as nobody), and `customer` queries ClickHouse as the customer does
 * (its own HTTP port and credentials). Every test makes its own engineer, so none depends on another's grant.
 */
export function sandboxWorkspace(name: string) {
  const clock = realClock();
  const workspace = {
    stateDir: '',
    cwd: '',
    up: undefined as unknown as SandboxUp,
    clock,
    as: (user: string | undefined, args: string[]) =>
      runCli(args, { cwd: workspace.cwd, clock, env: { BYOC_STATE_DIR: workspace.stateDir, ...(user ? { BYOC_USER: user } : {}) } }),
    async customer(sql: string): Promise<string> {
      const password = readFileSync(workspace.up.customer.passwordFile, 'utf8').trim();
      const response = await fetch(`http://127.0.0.1:${workspace.up.clickhouse.httpPort}/`, { method: 'POST', body: sql, headers: { 'X-ClickHouse-User': workspace.up.customer.user, 'X-ClickHouse-Key': password } });
      const text = await response.text();
      if (!response.ok) throw new Error(text);
      return text;
    },
    /** A new engineer with a sandbox request bob approved (pending first: --no-wait exits 8). */
    async approvedEngineer(prefix: string, reason = 'integration', scopes?: string[]): Promise<{ identity: string; requestId: string }> {
      const identity = `${prefix}${++engineers}@vendor.example`;
      const scope = scopes ? ['--scope', scopes.join(',')] : [];
      const requested = await workspace.as(identity, ['access', 'request', 'sandbox', '--reason', reason, '--ticket', 'INC-9', ...scope, '--no-wait', '--json']);
      const { id: requestId, status } = JSON.parse(requested.stdout) as { id: string; status: string };
      expect(status, requested.stderr).toBe('pending');
      const approved = await workspace.as('bob@vendor.example', ['access', 'approve', requestId]);
      expect(approved.exitCode, approved.stderr).toBe(0);
      return { identity, requestId };
    },
  };
  let engineers = 0;
  beforeAll(async () => {
    workspace.stateDir = mkdtempSync(path.join(os.tmpdir(), `byoc-it-${name}-`));
    workspace.cwd = mkdtempSync(path.join(os.tmpdir(), `byoc-it-${name}-cwd-`));
    const started = await workspace.as(undefined, ['sandbox', 'up', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    workspace.up = JSON.parse(started.stdout) as SandboxUp;
  }, 60_000);
  afterAll(async () => {
    if (workspace.stateDir) await workspace.as(undefined, ['sandbox', 'down']);
    rmSync(workspace.stateDir, { recursive: true, force: true });
    rmSync(workspace.cwd, { recursive: true, force: true });
  }, 30_000);
  return workspace;
}
