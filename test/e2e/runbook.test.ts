import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sandboxTier } from '../integration/tier.js';
import { BYOC_BIN } from './helpers.js';

const available = sandboxTier('runbook end-to-end test');
const RUNBOOK = fileURLToPath(new URL('./runbook.sh', import.meta.url));

describe.skipIf(!available)('the scripted runbook (test/e2e/runbook.sh)', () => {
  it('walks the whole flow with --json and exit codes only, against the sandbox', async () => {
    // Given an empty state folder and the built CLI
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-runbook-'));
    try {
      // When the runbook runs as a script would, with no TTY
      const result = await execa('bash', [RUNBOOK], {
        cwd: stateDir,
        reject: false,
        timeout: 120_000,
        env: { BYOC: `${process.execPath} ${BYOC_BIN}`, BYOC_STATE_DIR: path.join(stateDir, 'state'), PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: stateDir },
        extendEnv: false,
      });
      // Then every asserted step passed
      expect(result.stderr).toContain('runbook: all steps passed');
      expect(result.exitCode, result.stderr).toBe(0);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 150_000);
});
