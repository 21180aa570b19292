import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This folder: put it first on PATH and `tailscale` is the fake. */
export const FAKE_TAILSCALE_DIR = fileURLToPath(new URL('.', import.meta.url));
export const FAKE_TAILSCALE_BIN = path.join(FAKE_TAILSCALE_DIR, 'tailscale');
export const TAILSCALE_FIXTURES = fileURLToPath(new URL('../../fixtures/tailscale/', import.meta.url));
export const TAILSCALE_SCENARIOS = path.join(TAILSCALE_FIXTURES, 'scenarios');

/** A fixture's exact bytes. */
export function tailscaleFixture(name: string): string {
  return readFileSync(path.join(TAILSCALE_FIXTURES, name), 'utf8');
}

export interface FakeTailscaleEntry {
  match?: string;
  argv?: string[];
  stdout?: string;
  stdoutFile?: string;
  stderr?: string;
  stderrFile?: string;
  earlyStdout?: string;
  exitCode?: number;
  delayMs?: number;
}

export interface FakeTailscaleScenario {
  commands: FakeTailscaleEntry[];
  fallback?: FakeTailscaleEntry;
}

/** Writes a scenario into `dir`; `stdoutFile`s that are bare fixture names resolve to test/fixtures/tailscale. */
export function writeScenario(dir: string, scenario: FakeTailscaleScenario, name = 'scenario.json'): string {
  const absolute = (file: string | undefined) => (file === undefined ? undefined : path.resolve(TAILSCALE_FIXTURES, file));
  const commands = scenario.commands.map((entry) => ({ ...entry, stdoutFile: absolute(entry.stdoutFile), stderrFile: absolute(entry.stderrFile) }));
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify({ ...scenario, commands }));
  return file;
}

/**
 * The environment for a subprocess that should find the fake as `tailscale` (node found even if PATH lacks it).
 * The LocalAPI socket points nowhere, so a real tailscaled on the developer's machine is never asked instead.
 */
export function fakeTailscaleEnv(scenarioFile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${FAKE_TAILSCALE_DIR}${path.delimiter}/usr/bin${path.delimiter}/bin`,
    FAKE_TAILSCALE_SCENARIO: scenarioFile,
    FAKE_TAILSCALE_NODE: process.execPath,
    BYOC_TAILSCALE_SOCKET: '/nonexistent/byoc-test/tailscaled.sock',
    ...extra,
  };
}
