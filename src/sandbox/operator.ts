/**
 * The operator step, applied for real on the sandbox: what a customer's operator does by hand with the output
 * of `byoc access operator-config`. Every approved request becomes its own ClickHouse 18.16 user (users.d), with a
 * password only nginx holds, and a line in nginx's users.map keyed by the certificate subject, which carries the
 * request. Revocation removes that one grant (and nginx checks the broker's CRL); expiry is swept.
 *
 * The grant files under nginx/grants/ are the sandbox's own record (they hold the passwords); users.d, users.map and
 * keys.map are derived from them by {@link reconcile}, so a crash part-way leaves nothing that the next run cannot
 * put right.
 */
import { randomBytes, createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AccessRequest } from '../access/types.js';
import type { CertificateAuthority } from '../pki/ca.js';
import { ConfigError, RemoteError } from '../errors.js';
import { writePrivateFile } from '../util/secure-fs.js';
import { grantFile, readStoredGrants, sweepDue, type StoredGrant } from './grants.js';
import { CUSTOMER_USER, SANDBOX_SERVICE, sandboxPaths, type SandboxPaths } from './layout.js';
import { httpCall } from './net.js';
import { grantFor, grantsClickhouse, renderGrantUserXml, renderKeysMap, renderMetricsMap, renderUsersMap, type SandboxGrant } from './render.js';
import { brokerCaFile, readSandboxState, reloadNginx, sandboxStatus, writeNginxConfig, type SandboxHost, type SandboxState } from './sandbox.js';

const USER_PICKUP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

/** What the sandbox needs from the broker that runs it. */
export interface SandboxAuthority {
  /** the broker's CA (created once, under its lock): nginx's server certificate comes from it */
  ca(): Promise<CertificateAuthority>;
  /** the broker's current revocation list, signed by its CA */
  crl(): Promise<{ pem: string; thisUpdate: string; nextUpdate: string }>;
  /** the approved, unexpired sandbox requests: `sandbox up` reconciles the users with them */
  approved?(): Promise<AccessRequest[]>;
}

export interface ReconcileReport {
  /** the grants nginx lets through now */
  grants: SandboxGrant[];
  added: string[];
  removed: string[];
  crlRefreshed: boolean;
}

const appliesTo = (request: Pick<AccessRequest, 'service' | 'scopes'>) =>
  request.service === SANDBOX_SERVICE && (request.scopes.includes('clickhouse') || request.scopes.includes('metrics'));

/** The grants the sandbox lets through now, for `sandbox status` (no passwords). */
export async function liveGrants(stateDir: string, now: Date): Promise<SandboxGrant[]> {
  const grants = await readStoredGrants(sandboxPaths(stateDir));
  return grants.filter((grant) => Date.parse(grant.notAfter) > now.getTime()).map(({ password: _password, ...grant }) => grant);
}

async function storeGrant(paths: SandboxPaths, request: AccessRequest): Promise<StoredGrant> {
  const grant = grantFor(request);
  const existing = (await readStoredGrants(paths)).find((stored) => stored.requestId === grant.requestId);
  const stored: StoredGrant = { ...grant, password: existing?.password ?? randomBytes(32).toString('base64url') };
  await writePrivateFile(grantFile(paths, grant.requestId), `${JSON.stringify(stored, null, 2)}\n`);
  return stored;
}

/** Lets one approved request in: its own read-only, system-only ClickHouse user, then nginx's mapping to it. */
async function applyGrant(stateDir: string, request: AccessRequest, host: SandboxHost, authority: SandboxAuthority): Promise<ReconcileReport> {
  const paths = sandboxPaths(stateDir);
  await storeGrant(paths, request);
  const status = await sandboxStatus(stateDir, host);
  if (!status.up) {
    await reconcile(stateDir, host, authority, { running: undefined });
    throw new ConfigError('sandbox_not_running', `the sandbox is down, so ${request.requester}'s grant ${request.id} is recorded but not live`, {
      hint: 'Start it with byoc sandbox up: it applies every approved request.',
    });
  }
  return reconcile(stateDir, host, authority, { running: (await readSandboxState(stateDir))!, refreshCrl: true });
}

/** Ends one grant: nginx stops mapping it (and refuses its serials by the CRL), then its ClickHouse user goes. */
async function removeGrant(stateDir: string, requestId: string, host: SandboxHost, authority: SandboxAuthority): Promise<ReconcileReport> {
  const paths = sandboxPaths(stateDir);
  await rm(grantFile(paths, requestId), { force: true });
  const status = await sandboxStatus(stateDir, host);
  const state = status.up ? await readSandboxState(stateDir) : undefined;
  return reconcile(stateDir, host, authority, { running: state, refreshCrl: true });
}

/**
 * Expiry on the server's side: removes the users of grants whose end has passed, and refreshes nginx's CRL before
 * it goes stale (nginx refuses every certificate once a CRL's nextUpdate has passed). Cheap when there is nothing
 * to do: it runs on every broker operation.
 */
export async function sweepSandbox(stateDir: string, host: SandboxHost, authority: SandboxAuthority): Promise<ReconcileReport | undefined> {
  const paths = sandboxPaths(stateDir);
  const state = await readSandboxState(stateDir);
  if (!state) return undefined;
  const { expired, crlStale } = await sweepDue(paths, host.clock.now().getTime());
  if (expired.length === 0 && !crlStale) return undefined;
  for (const grant of expired) await rm(grantFile(paths, grant.requestId), { force: true });
  const status = await sandboxStatus(stateDir, host);
  return reconcile(stateDir, host, authority, { running: status.up ? state : undefined, refreshCrl: crlStale || expired.length > 0 });
}

/** `sandbox up`: the users are exactly the broker's approved sandbox requests (applied while down, revoked while down). */
export async function syncWithBroker(stateDir: string, host: SandboxHost, authority: SandboxAuthority): Promise<void> {
  if (!authority.approved) return;
  const paths = sandboxPaths(stateDir);
  const approved = (await authority.approved()).filter(appliesTo);
  const keep = new Set(approved.map((request) => request.id));
  for (const grant of await readStoredGrants(paths)) if (!keep.has(grant.requestId)) await rm(grantFile(paths, grant.requestId), { force: true });
  for (const request of approved) await storeGrant(paths, request);
}

/** Writes the broker's CRL where nginx reads it. */
async function writeCrl(paths: SandboxPaths, authority: SandboxAuthority): Promise<void> {
  const crl = await authority.crl();
  await writePrivateFile(paths.nginx.crl, crl.pem);
  await writePrivateFile(paths.nginx.crlMeta, `${JSON.stringify({ thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate })}\n`);
}

/**
 * Makes users.d, users.map, keys.map (and the CRL) match the grant files. Order keeps both promises: a new user
 * exists in ClickHouse before nginx sends anyone to it, and nginx has stopped sending anyone to a removed user
 * (and refuses its certificates) before the user goes.
 */
export async function reconcile(
  stateDir: string,
  host: SandboxHost,
  authority: SandboxAuthority,
  options: { running: SandboxState | undefined; refreshCrl?: boolean },
): Promise<ReconcileReport> {
  const paths = sandboxPaths(stateDir);
  const now = host.clock.now().getTime();
  const live = (await readStoredGrants(paths)).filter((grant) => Date.parse(grant.notAfter) > now);
  // Only grants with the clickhouse scope get a ClickHouse user; a metrics-only grant passes the metrics door alone.
  const wanted = live.filter(grantsClickhouse);
  const present = await usersDirFiles(paths);
  const added: string[] = [];
  for (const grant of wanted) {
    const file = path.join(paths.clickhouse.usersDir, `${grant.user}.xml`);
    const content = renderGrantUserXml(grant, sha256(grant.password));
    if (present.get(`${grant.user}.xml`) === content) continue;
    await writePrivateFile(file, content);
    added.push(grant.user);
  }
  if (options.running) for (const user of added) await waitForUser(options.running, user, 'present', host);

  let crlRefreshed = false;
  if (options.refreshCrl || !(await exists(paths.nginx.crl))) {
    await writeCrl(paths, authority);
    crlRefreshed = true;
  }
  const grants = live.map(({ password: _password, ...grant }) => grant);
  await writePrivateFile(paths.nginx.usersMap, renderUsersMap(grants.filter(grantsClickhouse)));
  await writePrivateFile(paths.nginx.keysMap, renderKeysMap(wanted));
  await writePrivateFile(paths.nginx.metricsMap, renderMetricsMap(grants));
  if (options.running) {
    const generation = await writeNginxConfig(paths, options.running, brokerCaFile(stateDir), host.system.isRoot);
    await reloadNginx(paths, options.running, host, generation);
  }

  // Anything else in users.d goes too: grants that ended, and per-engineer users of earlier byoc versions
  // (passwordless, so any local process could have used them).
  const keep = new Set(wanted.map((grant) => `${grant.user}.xml`));
  const removed: string[] = [];
  for (const file of present.keys()) {
    if (keep.has(file)) continue;
    await rm(path.join(paths.clickhouse.usersDir, file), { force: true });
    removed.push(file.replace(/\.xml$/, ''));
  }
  if (options.running) for (const user of removed) await waitForUser(options.running, user, 'absent', host);
  if (options.running && removed.length) await killQueriesOf(options.running, paths, removed);
  return { grants, added, removed, crlRefreshed };
}

/**
 * A removed user's queries that are still running, stopped as the customer's admin: dropping a user ends its
 * logins, not what it already started, and the engineer's own KILL QUERY can no longer get through (nginx refuses
 * the revoked certificate). Without this a revoked grant's last statement would run on to its max_execution_time.
 */
async function killQueriesOf(state: SandboxState, paths: SandboxPaths, users: readonly string[]): Promise<void> {
  const password = (await readFile(paths.customerPassword, 'utf8')).trim();
  // user names are [a-z0-9_] (server-user.ts): nothing to escape in the literal
  const answer = await httpCall({
    port: state.clickhouse.httpPort,
    method: 'POST',
    path: '/',
    headers: { 'X-ClickHouse-User': CUSTOMER_USER, 'X-ClickHouse-Key': password },
    body: `KILL QUERY WHERE user IN (${users.map((user) => `'${user}'`).join(', ')}) ASYNC`,
    timeoutMs: 5000,
  });
  if (answer.status !== 200) {
    throw new RemoteError('sandbox_kill_failed', `could not stop the running queries of ${users.join(', ')}: ${answer.body.trim()}`, {
      hint: 'They stop at their max_execution_time; check the ClickHouse error log (byoc sandbox status shows where it is).',
    });
  }
}

async function usersDirFiles(paths: SandboxPaths): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  let names: string[];
  try {
    names = (await readdir(paths.clickhouse.usersDir)).filter((file) => file.endsWith('.xml'));
  } catch {
    return files;
  }
  for (const name of names.sort()) files.set(name, await readFile(path.join(paths.clickhouse.usersDir, name), 'utf8').catch(() => ''));
  return files;
}

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(
    () => true,
    () => false,
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The grant a users.d file was written for (tests and status use it). */
;

/**
 * ClickHouse re-reads users.xml and users.d/ on its own (every few seconds in 18.16). The probe sends a wrong
 * password on purpose: "wrong password" (193) proves the user exists, "unknown user" (192) that it does not,
 * and a refused login never reaches the customer's query_log, so the audit sees no query the engineer did not make.
 */
async function waitForUser(state: SandboxState, user: string, want: 'present' | 'absent', host: SandboxHost): Promise<void> {
  const deadline = host.clock.now().getTime() + USER_PICKUP_TIMEOUT_MS;
  let last: string;
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

/**
 * The broker's hook: an approved sandbox request becomes a real user. A sandbox that was set up but is down is
 * reported (the broker turns it into a warning); `sandbox up` applies the grant later.
 */
export function onApproved(stateDir: string, host: SandboxHost, authority: SandboxAuthority): (request: AccessRequest) => Promise<void> {
  return async (request) => {
    if (!appliesTo(request)) return;
    if (!(await readSandboxState(stateDir))) return;
    await applyGrant(stateDir, request, host, authority);
  };
}

/** The broker's hook for a revocation: only that request's user goes; the engineer's other grants stay. */
export function onRevoked(stateDir: string, host: SandboxHost, authority: SandboxAuthority): (request: AccessRequest) => Promise<void> {
  return async (request) => {
    if (request.service !== SANDBOX_SERVICE) return;
    if (!(await readSandboxState(stateDir))) return;
    await removeGrant(stateDir, request.id, host, authority);
  };
}
