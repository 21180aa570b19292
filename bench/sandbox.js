// Shared set-up for the benchmarks that need the sandbox: a state folder, the sandbox up, an approved
// request for its requester and a certificate. Everything through the CLI, as a user would.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BYOC } from './lib.js';

export function byocSync(args, env, options = {}) {
  return execFileSync(process.execPath, [BYOC, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 30, ...options });
}

export function startSandbox() {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-sandbox-'));
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-cwd-'));
  const env = { BYOC_STATE_DIR: stateDir, NO_COLOR: '1' };
  const run = (args, extra = {}) => byocSync(args, { ...env, ...extra }, { cwd });
  const up = JSON.parse(run(['sandbox', 'up', '--json']));
  const stop = () => {
    try {
      run(['sandbox', 'down']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  };
  try {
    const request = JSON.parse(run(['access', 'request', 'sandbox', '--reason', 'benchmark', '--no-wait', '--json'], { BYOC_USER: up.requester }).toString() || '{}');
    return { up, env, cwd, stateDir, run, stop, request };
  } catch (error) {
    // `access request` exits 8 (pending) by design: its stdout still carries the request.
    const request = JSON.parse(error.stdout);
    run(['access', 'approve', request.id], { BYOC_USER: up.approver });
    const cert = JSON.parse(run(['cert', 'get', 'sandbox', '--json'], { BYOC_USER: up.requester }));
    return { up, env: { ...env, BYOC_USER: up.requester }, cwd, stateDir, run, stop, request, cert };
  }
}
