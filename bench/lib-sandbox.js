// Shared set-up for the benchmarks that need the sandbox: a state folder, the sandbox up, an approved
// request for its requester and a certificate. Everything through the CLI, as a user would.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BYOC } from './lib.js';

export function startSandbox() {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-sandbox-'));
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-cwd-'));
  const env = { BYOC_STATE_DIR: stateDir, NO_COLOR: '1' };
  /** Runs byoc; `expect` lists the exit codes that are not failures (access request exits 8 while pending). */
  const run = (args, extra = {}, expect = [0]) => {
    const result = spawnSync(process.execPath, [BYOC, ...args], { cwd, env: { ...process.env, ...env, ...extra }, encoding: 'utf8', maxBuffer: 1 << 30 });
    if (!expect.includes(result.status)) throw new Error(`byoc ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return result.stdout;
  };
  const stop = () => {
    try {
      run(['sandbox', 'down']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  };
  try {
    const up = JSON.parse(run(['sandbox', 'up', '--json']));
    const request = JSON.parse(run(['access', 'request', 'sandbox', '--reason', 'benchmark', '--no-wait', '--json'], { BYOC_USER: up.requester }, [8]));
    run(['access', 'approve', request.id], { BYOC_USER: up.approver });
    const cert = JSON.parse(run(['cert', 'get', 'sandbox', '--json'], { BYOC_USER: up.requester }));
    return { up, env: { ...env, BYOC_USER: up.requester }, cwd, stateDir, run, stop, request, cert };
  } catch (error) {
    stop();
    throw error;
  }
}
