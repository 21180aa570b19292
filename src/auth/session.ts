/**
 * The OIDC session of this state folder: `<state>/auth/session.json`, 0600 in a 0700 folder, one per state folder
 * (written by `byoc login`, renewed silently, removed by `byoc logout`). It holds the provider's tokens: a refresh
 * token is a long-lived secret, so the file is never printed, logged or sent anywhere but to its issuer.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { readSmallFile } from '../util/read.js';
import { writePrivateFile } from '../util/secure-fs.js';

/** What `byoc status` and others may show: no secret in it. */
export interface SessionSummary {
  /** the served broker signed in to (its URL as configured) */
  broker: string;
  issuer: string;
  identity: string;
  groups: string[];
  /** ISO: when the token sent to the broker expires */
  expiresAt: string;
  /** a refresh token is held, so the session renews silently */
  refreshable: boolean;
}

export interface StoredSession extends SessionSummary {
  version: 1;
  clientId: string;
  /** which of the provider's tokens the broker takes (GET /v1/auth) */
  bearer: 'access_token' | 'id_token';
  /** the claim the groups are read from, again on each renewal */
  groupsClaim?: string;
  /** the token sent to the broker */
  token: string;
  refreshToken?: string;
  /** kept for the provider's logout hints; never sent to the broker unless it is the bearer */
  idToken?: string;
  flow: 'authorization_code' | 'device_code';
  obtainedAt: string;
  renewedAt?: string;
}

const sessionFile = (stateDir: string) => path.join(stateDir, 'auth', 'session.json');

/** The stored session, or undefined when there is none (or it is unreadable: a fresh login replaces it). */
export async function readStoredSession(stateDir: string): Promise<StoredSession | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readSmallFile(sessionFile(stateDir)));
  } catch {
    return undefined;
  }
  const session = parsed as Partial<StoredSession> | null;
  if (session?.version !== 1 || typeof session.token !== 'string' || typeof session.broker !== 'string' || typeof session.identity !== 'string' || typeof session.expiresAt !== 'string') {
    return undefined;
  }
  return session as StoredSession;
}

/** The session as others may show it (the shared contract of #16), or undefined when not signed in. */
export async function readSession(stateDir: string): Promise<SessionSummary | undefined> {
  const session = await readStoredSession(stateDir);
  if (!session) return undefined;
  return {
    broker: session.broker,
    issuer: session.issuer,
    identity: session.identity,
    groups: [...(session.groups ?? [])],
    expiresAt: session.expiresAt,
    refreshable: session.refreshable,
  };
}

export async function writeSession(stateDir: string, session: StoredSession): Promise<void> {
  await writePrivateFile(sessionFile(stateDir), `${JSON.stringify(session, null, 2)}\n`);
}

/** Removes the session file; false when there was none. */
export async function removeSession(stateDir: string): Promise<boolean> {
  const file = sessionFile(stateDir);
  const existed = (await readSmallFile(file).then(() => true, () => false));
  await rm(file, { force: true });
  return existed;
}

/** The broker URL as sessions and configuration compare it: no trailing slash. */
export const sameBroker = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
