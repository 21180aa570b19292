/**
 * A real `byoc broker serve` process (bin/byoc.js, a fresh state folder, a config file in its working folder) for
 * the tests that must see the process boundary: signals, exit codes, what is on disk afterwards, TLS as a client
 * meets it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach } from 'vitest';
import { BYOC_BIN } from '../e2e/helpers.js';
import { spawnByoc, type SpawnedByoc } from '../fakes/spawn-byoc.js';
import { tempDir } from '../fakes/fs.js';

export const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CONFIG = `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\n`;

const running: SpawnedByoc[] = [];
afterEach(async () => {
  // Never leave a server behind, whatever the test did.
  for (const served of running.splice(0)) {
    if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill('SIGKILL');
    await served.exited;
  }
});

/** Runs the built CLI once in `cwd` with a clean environment plus `env`. */
export async function byocIn(cwd: string, env: Record<string, string>, args: string[]) {
  const result = await execa(process.execPath, [BYOC_BIN, ...args], {
    reject: false,
    extendEnv: false,
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home', ...env },
    timeout: 30_000,
    input: '',
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export interface Served {
  served: SpawnedByoc;
  url: string;
  cwd: string;
  stateDir: string;
  env: Record<string, string>;
  events: () => string;
  /** everything it wrote to stderr so far */
  stderr: () => string;
}

/** A workspace (state folder + config) with tokens for alice (requester) and bob (approver), and `broker serve` started on a free loopback port. */
export async function startServedBroker(extraArgs: string[] = [], files: Record<string, string> = {}): Promise<Served & { token: string; bobToken: string }> {
  const stateDir = tempDir();
  const cwd = tempDir({ 'byoc.config.yaml': CONFIG, ...files });
  const env = { BYOC_STATE_DIR: stateDir };
  const created = await byocIn(cwd, env, ['broker', 'token', 'create', ALICE]);
  if (created.exitCode !== 0) throw new Error(`token create failed: ${created.stderr}`);
  const approver = await byocIn(cwd, env, ['broker', 'token', 'create', BOB]);
  if (approver.exitCode !== 0) throw new Error(`token create failed: ${approver.stderr}`);
  const served = spawnByoc(['broker', 'serve', '--listen', '127.0.0.1:0', ...extraArgs], { cwd, env, timeoutMs: 60_000 });
  running.push(served);
  let stderr = '';
  served.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await listeningUrl(served);
  return {
    served,
    url,
    cwd,
    stateDir,
    env,
    token: created.stdout.trim(),
    bobToken: approver.stdout.trim(),
    events: () => readFileSync(path.join(stateDir, 'broker', 'events.jsonl'), 'utf8'),
    stderr: () => stderr,
  };
}

/** `byoc broker serve` in `cwd` on a free loopback port, stopped after the test; with its URL once it listens. */
export async function serveIn(cwd: string, env: Record<string, string>, extraArgs: string[] = []): Promise<{ served: SpawnedByoc; url: string }> {
  const served = spawnByoc(['broker', 'serve', '--listen', '127.0.0.1:0', ...extraArgs], { cwd, env, timeoutMs: 120_000 });
  running.push(served);
  return { served, url: await listeningUrl(served) };
}

/** The URL from the "listening on" line on stderr, once it is there (or the process's stderr if it exits first). */
async function listeningUrl(served: SpawnedByoc): Promise<string> {
  let stderr = '';
  return new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString();
      const found = /listening on (https?:\/\/\S+)/.exec(stderr);
      if (found) {
        served.child.stderr!.off('data', onData);
        resolve(found[1]!);
      }
    };
    served.child.stderr!.on('data', onData);
    void served.exited.then((exit) => reject(new Error(`broker serve exited ${exit.exitCode} before listening: ${exit.stderr}`)));
  });
}
