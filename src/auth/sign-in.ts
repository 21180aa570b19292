/**
 * byoc login / logout and the session's silent renewal. The broker says which provider, client and token it takes
 * (GET /v1/auth), so a person needs only broker.url; the broker's own whoami then says who the token is, so the
 * session's identity is always the broker's answer, never a local guess.
 */
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { ConfigError, NotAllowedError } from '../errors.js';
import { ensurePrivateDir } from '../util/secure-fs.js';
import type { BearerSource, HttpBrokerClient } from '../access/http-client.js';
import { readStoredSession, removeSession, sameBroker, writeSession, type SessionSummary, type StoredSession } from './session.js';
import type { OidcDescription } from './oidc-client.js';

/** A token is renewed when it has less than this left, so none expires between the check and the broker's. */
const RENEW_BEFORE_MS = 60_000;

const LOGIN_HINT = 'Sign in again: run byoc login';

async function servedBroker(ctx: Context, url: string, token: string | undefined): Promise<HttpBrokerClient> {
  const [{ HttpBrokerClient }, { agentFor }] = await Promise.all([import('../access/http-client.js'), import('../net/agents.js')]);
  return new HttpBrokerClient({ url, token, agent: await agentFor(ctx, new URL(url)), signal: ctx.signal });
}

async function brokerUrlOf(ctx: Context): Promise<string> {
  const url = (await ctx.config()).get<string>('broker.url');
  if (!url) {
    throw new ConfigError('broker_url_missing', 'byoc login signs in to a served broker, and broker.url is not set', {
      hint: 'Set broker.url in the configuration or BYOC_BROKER_URL=https://broker.vendor.example (ask the broker operator).',
    });
  }
  return url;
}

/** Which token the broker takes, its claims and expiry, from a token endpoint response. */
async function bearerOf(auth: OidcDescription, tokens: { access_token?: string; id_token?: string }): Promise<{ token: string; claims: Record<string, unknown>; expiresAt: string }> {
  const token = auth.bearer === 'access_token' ? tokens.access_token : tokens.id_token;
  if (!token) {
    throw new NotAllowedError('bearer_missing', `the identity provider ${auth.issuer} issued no ${auth.bearer === 'access_token' ? 'access token' : 'ID token'}, which the broker takes`, {
      hint: auth.bearer === 'id_token' ? 'The broker operator adds openid to broker.oidc.scopes.' : `The identity-provider administrators issue access tokens for ${auth.audience} to client ${auth.clientId}.`,
    });
  }
  const { decodeJwt } = await import('jose');
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new NotAllowedError('bearer_not_jwt', `the ${auth.bearer === 'access_token' ? 'access token' : 'ID token'} from ${auth.issuer} is not a JWT, which the broker needs`, {
      hint: `The identity-provider administrators issue JWT access tokens for ${auth.audience ?? 'the broker'}; or the broker operator unsets broker.oidc.audience so the ID token is used.`,
    });
  }
  if (typeof claims.exp !== 'number') throw new NotAllowedError('bearer_without_expiry', `the token from ${auth.issuer} has no expiry (exp)`, { hint: 'The broker refuses it too: ask the identity-provider administrators.' });
  return { token, claims, expiresAt: new Date(claims.exp * 1000).toISOString() };
}

function groupsOf(auth: OidcDescription, claims: Record<string, unknown>): string[] {
  const value = auth.groupsClaim ? claims[auth.groupsClaim] : undefined;
  return Array.isArray(value) ? value.filter((group): group is string => typeof group === 'string') : typeof value === 'string' ? [value] : [];
}

export interface LoginResult extends SessionSummary {
  flow: StoredSession['flow'];
}

/** byoc login: signs in at the broker's provider, checks the token with the broker, stores the session. */
export async function signIn(ctx: Context, options: { device: boolean; port: number; browser: boolean }): Promise<LoginResult> {
  const url = await brokerUrlOf(ctx);
  const description = await (await servedBroker(ctx, url, undefined)).auth();
  const auth = description.oidc;
  if (!auth) {
    throw new ConfigError('oidc_not_offered', `the broker at ${url} offers no single sign-on (broker.oidc is not configured there)`, {
      hint: 'Use a static token (BYOC_TOKEN from `byoc broker token create <you>`, ask the broker operator), or ask them to set broker.oidc.issuer and broker.oidc.clientId.',
    });
  }
  const { discover, codeLogin, deviceLogin } = await import('./oidc-client.js');
  const config = await discover(ctx, auth.issuer, auth.clientId);
  const tokens = options.device ? await deviceLogin(ctx, config, auth) : await codeLogin(ctx, config, auth, options);
  const { token, claims, expiresAt } = await bearerOf(auth, tokens);
  // The broker's word on who this is (and that it takes the token at all), before anything is stored.
  const identity = await (await servedBroker(ctx, url, token)).whoami();
  const now = ctx.clock.now().toISOString();
  const session: StoredSession = {
    version: 1,
    broker: url,
    issuer: auth.issuer,
    clientId: auth.clientId,
    identity,
    groups: groupsOf(auth, claims),
    expiresAt,
    refreshable: Boolean(tokens.refresh_token),
    bearer: auth.bearer,
    ...(auth.groupsClaim ? { groupsClaim: auth.groupsClaim } : {}),
    token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
    flow: options.device ? 'device_code' : 'authorization_code',
    obtainedAt: now,
  };
  await writeSession(ctx.stateDir(), session);
  if (ctx.env.BYOC_TOKEN) ctx.log.warn(`BYOC_TOKEN is set: byoc uses it rather than this session until it is unset`);
  const { broker, issuer, groups, refreshable } = session;
  return { broker, issuer, identity, groups, expiresAt, refreshable, flow: session.flow };
}

/**
 * The bearer of this state folder's session for the broker at `url`, renewed with the refresh token when it has
 * under a minute left (or when the broker said it expired). Not signed in, signed in elsewhere, or a session that
 * cannot be renewed: exit 4 with "run byoc login".
 */
export function sessionBearer(ctx: Context, url: string): BearerSource {
  return async (options = {}) => {
    const stateDir = ctx.stateDir();
    const session = await readStoredSession(stateDir);
    if (!session) {
      throw new NotAllowedError('not_signed_in', `you are not signed in to the broker at ${url}`, {
        hint: 'Run byoc login (or set BYOC_TOKEN to a token from `byoc broker token create <you>`).',
      });
    }
    if (!sameBroker(session.broker, url)) {
      throw new NotAllowedError('not_signed_in', `you are signed in to ${session.broker}, not to the broker at ${url} (broker.url)`, { hint: `Run byoc login to sign in to ${url}.` });
    }
    const left = Date.parse(session.expiresAt) - ctx.clock.now().getTime();
    if (!options.renew && left > RENEW_BEFORE_MS) return session.token;
    if (!session.refreshToken) {
      if (!options.renew && left > 0) return session.token;
      throw new NotAllowedError('session_expired', `your session (${session.identity}) expired at ${session.expiresAt} and holds no refresh token`, { hint: LOGIN_HINT });
    }
    return (await renew(ctx, session)).token;
  };
}

/**
 * One renewal at a time per state folder: a provider rotates a public client's refresh token on each use and takes
 * a second use of the old one as theft (oidc-provider, Okta and Auth0 then revoke the whole grant), so two byoc runs
 * renewing at once would sign the person out. Written here rather than with a lock library: an exclusive create of
 * one file, waited on for at most 15 s (a renewal is a round trip or two), then broken as stale.
 */
async function underRenewLock<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  const lock = path.join(ctx.stateDir(), 'auth', 'renew.lock');
  await ensurePrivateDir(path.dirname(lock));
  for (let attempt = 0; ; attempt += 1) {
    try {
      await (await open(lock, 'wx', 0o600)).close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (attempt >= 150) {
        ctx.log.warn(`breaking a stale session lock (${lock}): another byoc held it for 15 s`);
        await rm(lock, { force: true });
        continue;
      }
      await ctx.clock.sleep(100, ctx.signal);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

async function renew(ctx: Context, stale: StoredSession): Promise<StoredSession> {
  return underRenewLock(ctx, async () => {
    // Renewed by another byoc while this one waited: theirs is the session now.
    const current = await readStoredSession(ctx.stateDir());
    if (current && current.token !== stale.token && sameBroker(current.broker, stale.broker)) return current;
    return renewNow(ctx, current ?? stale);
  });
}

async function renewNow(ctx: Context, session: StoredSession): Promise<StoredSession> {
  if (!session.refreshToken) {
    throw new NotAllowedError('session_expired', `your session (${session.identity}) expired at ${session.expiresAt} and holds no refresh token`, { hint: LOGIN_HINT });
  }
  const { discover, refreshTokens } = await import('./oidc-client.js');
  const description: OidcDescription = { issuer: session.issuer, clientId: session.clientId, scopes: [], identityClaim: '', bearer: session.bearer, flows: [] };
  let tokens;
  try {
    tokens = await refreshTokens(await discover(ctx, session.issuer, session.clientId), session.refreshToken, session.issuer);
  } catch (error) {
    if (error instanceof NotAllowedError) {
      throw new NotAllowedError('session_expired', `your session (${session.identity}) could not be renewed: ${error.message}`, { hint: LOGIN_HINT, cause: error });
    }
    throw error;
  }
  const { token, claims, expiresAt } = await bearerOf(description, tokens);
  const renewed: StoredSession = {
    ...session,
    token,
    expiresAt,
    groups: session.groupsClaim ? groupsOf({ ...description, groupsClaim: session.groupsClaim }, claims) : session.groups,
    refreshToken: tokens.refresh_token ?? session.refreshToken,
    ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
    renewedAt: ctx.clock.now().toISOString(),
  };
  await writeSession(ctx.stateDir(), renewed);
  return renewed;
}

export interface LogoutResult {
  signedOut: boolean;
  identity?: string;
  broker?: string;
  /** the refresh token was revoked at the provider */
  revoked: boolean;
  /** services whose certificates (and keys) were deleted */
  certificates: string[];
}

/**
 * byoc logout: revokes the refresh token where the provider offers revocation (a failure is a warning: the session
 * is removed regardless), deletes the identity's keys and certificates in this state folder, removes the session.
 */
export async function signOut(ctx: Context): Promise<LogoutResult> {
  const stateDir = ctx.stateDir();
  const session = await readStoredSession(stateDir);
  if (!session) {
    await removeSession(stateDir);
    return { signedOut: false, revoked: false, certificates: [] };
  }
  let revoked = false;
  if (session.refreshToken) {
    try {
      const { discover, revokeRefreshToken } = await import('./oidc-client.js');
      revoked = await revokeRefreshToken(await discover(ctx, session.issuer, session.clientId), session.refreshToken, session.issuer);
      if (!revoked) ctx.log.warn(`${session.issuer} offers no token revocation: the refresh token stays valid at the provider until it expires`);
    } catch (error) {
      ctx.log.warn(`could not revoke the refresh token at ${session.issuer}: ${(error as Error).message}; it stays valid there until it expires`);
    }
  }
  const { listCertificates, identityDirName } = await import('../pki/store.js');
  const certificates = (await listCertificates(stateDir, session.identity)).map((stored) => stored.meta.service);
  // The whole folder: a half-written or unreadable pair of this identity goes too.
  await rm(path.join(stateDir, 'certs', identityDirName(session.identity)), { recursive: true, force: true });
  await removeSession(stateDir);
  return { signedOut: true, identity: session.identity, broker: session.broker, revoked, certificates };
}
