/**
 * The operator step, applied for real on the sandbox: what a customer's operator does by hand with the output
 * of `byoc access operator-config`. ClickHouse 18.16 gets a users.d file, nginx a line in users.map.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { clickhouseUserFor } from '../access/operator.js';
import type { AccessRequest } from '../access/types.js';
import { ConfigError, RemoteError } from '../errors.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { SANDBOX_SERVICE, sandboxPaths, type SandboxPaths } from './layout.js';
import { httpCall } from './net.js';
import { renderOperatorUserXml } from './render.js';
import {
  brokerCaFile,
  readSandboxState,
  reloadNginx,
  sandboxStatus,
  writeNginxConfig,
  writeUsersMapFromUsersDir,
  type SandboxHost,
  type SandboxState,
} from './sandbox.js';

const USER_PICKUP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

export interface AppliedUser {
  identity: string;
  user: string;
  file: string;
}

async function requireUp(stateDir: string, host: SandboxHost): Promise<SandboxState> {
  const state = await readSandboxState(stateDir);
  const status = await sandboxStatus(stateDir, host);
  if (!state || !status.up) {
    throw new ConfigError('sandbox_not_running', 'the sandbox is not running', { hint: 'Start it with: byoc sandbox up' });
  }
  return state;
}

/** Lets `request.requester` in: a read-only, system-only ClickHouse user, then the nginx mapping to it. */
export async function applyOperatorUser(stateDir: string, request: AccessRequest, host: SandboxHost): Promise<AppliedUser> {
  const state = await requireUp(stateDir, host);
  const paths = sandboxPaths(stateDir);
  const rendered = renderOperatorUserXml(request);
  const file = path.join(paths.clickhouse.usersDir, rendered.fileName);
  // ClickHouse first: nginx must never send a user ClickHouse does not know yet.
  await writePrivateFile(file, rendered.content);
  await waitForUser(state, rendered.user, 'present', host);
  await refreshNginx(paths, state, stateDir, host);
  return { identity: request.requester, user: rendered.user, file };
}

/** Undoes {@link applyOperatorUser}: nginx stops mapping the identity first, then the ClickHouse user goes. */
export async function removeOperatorUser(stateDir: string, identity: string, host: SandboxHost): Promise<{ identity: string; user: string; removed: boolean }> {
  const paths = sandboxPaths(stateDir);
  const user = clickhouseUserFor(identity);
  const file = path.join(paths.clickhouse.usersDir, `${user}.xml`);
  const state = await readSandboxState(stateDir);
  const status = await sandboxStatus(stateDir, host);
  const existed = await rm(file).then(
    () => true,
    () => false,
  );
  if (!state || !status.up) {
    // Not running: the files are all there is to change; the next `up` starts from them.
    await writeUsersMapFromUsersDir(paths);
    return { identity, user, removed: existed };
  }
  await refreshNginx(paths, state, stateDir, host);
  await waitForUser(state, user, 'absent', host);
  return { identity, user, removed: existed };
}

async function refreshNginx(paths: SandboxPaths, state: SandboxState, stateDir: string, host: SandboxHost): Promise<void> {
  await writeUsersMapFromUsersDir(paths);
  const generation = await writeNginxConfig(paths, state, brokerCaFile(stateDir), host.system.isRoot);
  await reloadNginx(paths, state, host, generation);
}

/**
 * ClickHouse re-reads users.xml and users.d/ on its own (every few seconds in 18.16). The probe sends a wrong
 * password on purpose: "wrong password" (193) proves the user exists, "unknown user" (192) that it does not,
 * and a refused login never reaches the customer's query_log, so the audit sees no query the engineer did not make.
 */
async function waitForUser(state: SandboxState, user: string, want: 'present' | 'absent', host: SandboxHost): Promise<void> {
  const deadline = host.clock.now().getTime() + USER_PICKUP_TIMEOUT_MS;
  let last = '';
  for (;;) {
    try {
      const answer = await httpCall({
        port: state.clickhouse.httpPort,
        path: '/?query=SELECT%201',
        headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': 'byoc-probe-not-a-password' },
        timeoutMs: 2000,
      });
      last = answer.body.trim();
      const known = /\bCode: 193\b/.test(last) || answer.status === 200;
      const unknown = /\bCode: 192\b/.test(last);
      if ((want === 'present' && known) || (want === 'absent' && unknown)) return;
    } catch (error) {
      last = (error as Error).message;
    }
    if (host.clock.now().getTime() >= deadline) {
      throw new RemoteError('sandbox_user_not_applied', `ClickHouse did not ${want === 'present' ? 'pick up' : 'drop'} the user ${user} within ${USER_PICKUP_TIMEOUT_MS / 1000} s (last answer: ${last})`, {
        hint: 'Check the ClickHouse error log (byoc sandbox status shows where it is).',
      });
    }
    await host.clock.sleep(POLL_MS);
  }
}

const appliesTo = (request: AccessRequest) => request.service === SANDBOX_SERVICE && request.scopes.includes('clickhouse');

/**
 * The broker's hook: an approved sandbox request becomes a real user, when the sandbox is up. A sandbox that was
 * set up but is down is reported (the broker turns it into a warning), since the engineer would only meet a 403.
 */
export function onApproved(stateDir: string, host: SandboxHost): (request: AccessRequest) => Promise<void> {
  return async (request) => {
    if (!appliesTo(request)) return;
    const status = await sandboxStatus(stateDir, host);
    if (status.up) {
      await applyOperatorUser(stateDir, request, host);
      return;
    }
    if (status.configured) {
      throw new ConfigError('sandbox_not_running', `the sandbox is down, so ${request.requester} got no ClickHouse user`, {
        hint: `Start it (byoc sandbox up), then approve a new request; ${request.id} stays approved without a user.`,
      });
    }
  };
}

/**
 * The broker's hook for a revocation. `stillApproved` says whether the same engineer holds another approved
 * sandbox request: users are per identity, so that one keeps the user alive.
 */
export function onRevoked(stateDir: string, host: SandboxHost, stillApproved: (request: AccessRequest) => Promise<boolean> = async () => false): (request: AccessRequest) => Promise<void> {
  return async (request) => {
    if (!appliesTo(request)) return;
    if (await stillApproved(request)) return;
    await removeOperatorUser(stateDir, request.requester, host);
  };
}
