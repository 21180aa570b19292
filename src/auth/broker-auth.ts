/**
 * The broker's side of single sign-on: what it publishes at `GET /v1/auth` (so the CLI needs only the broker's URL)
 * and the check of an identity provider's JWT sent as a bearer (jose: signature against the provider's JWKS, fetched
 * once and cached, issuer, audience, expiry). Loaded only by a broker configured with `broker.oidc`.
 */
import { ConfigError, NotAllowedError, RemoteError } from '../errors.js';
import type { Principal } from '../access/types.js';

/** `broker.oidc` as configured. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** the API audience of the provider's JWT access tokens; absent: the ID token (audience: clientId) is the bearer */
  audience?: string;
  identityClaim: string;
  groupsClaim?: string;
  scopes: string[];
}

/** What `GET /v1/auth` answers: everything the CLI needs to sign in against this broker. */
export interface AuthDescription {
  /** static tokens (BYOC_TOKEN) always work */
  methods: ('token' | 'oidc')[];
  oidc?: {
    issuer: string;
    clientId: string;
    audience?: string;
    scopes: string[];
    identityClaim: string;
    groupsClaim?: string;
    /** which of the provider's tokens the broker takes as a bearer */
    bearer: 'access_token' | 'id_token';
    flows: ('authorization_code' | 'device_code')[];
  };
}

export function describeAuth(settings: OidcSettings | undefined): AuthDescription {
  if (!settings) return { methods: ['token'] };
  return {
    methods: ['token', 'oidc'],
    oidc: {
      issuer: settings.issuer,
      clientId: settings.clientId,
      ...(settings.audience ? { audience: settings.audience } : {}),
      scopes: settings.scopes,
      identityClaim: settings.identityClaim,
      ...(settings.groupsClaim ? { groupsClaim: settings.groupsClaim } : {}),
      bearer: settings.audience ? 'access_token' : 'id_token',
      flows: ['authorization_code', 'device_code'],
    },
  };
}

/** A bearer with three dot-separated base64url parts: a JWT (a static token is `byoc_` and one base64url part). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

export interface VerifierDeps {
  now(): Date;
  /** seconds of clock difference tolerated between the provider and the broker */
  clockTolerance?: number;
}

const refuse = (code: string, message: string, hint: string) => new NotAllowedError(code, message, { hint });

/**
 * The check of a provider's JWT. The audience decides which token is the bearer:
 * - `broker.oidc.audience` set: the provider's access token issued for that API audience (RFC 9068 / RFC 8707). This
 *   is the OAuth way: the token is meant for the broker, and nothing else takes it.
 * - absent: the ID token, whose audience is the CLI's client id (what kubectl's OIDC sign-in does). Every provider
 *   can issue one without an API set up; its audience ties it to byoc's client, so an ID token from another
 *   application of the same provider is refused.
 * Never both: a broker that took either would take an ID token minted for byoc where an access token was meant.
 */
export function createOidcVerifier(settings: OidcSettings, deps: VerifierDeps): (token: string) => Promise<Principal> {
  const audience = settings.audience ?? settings.clientId;
  const login = 'Sign in again: byoc login';
  // The provider's keys, found once through its discovery document; jose caches them and refetches on an unknown kid.
  let keys: Promise<import('jose').JWTVerifyGetKey> | undefined;
  const keySet = () => {
    keys ??= discoverKeys(settings.issuer).catch((error: unknown) => {
      keys = undefined;
      throw error;
    });
    return keys;
  };
  return async (token) => {
    const jose = await import('jose');
    let unverified: import('jose').JWTPayload;
    try {
      unverified = jose.decodeJwt(token);
    } catch {
      throw refuse('token_invalid', 'the bearer token is not a valid JWT', login);
    }
    // Said before any key is fetched: a token of another provider (or another tenant) is the common mistake.
    if (unverified.iss !== settings.issuer) {
      throw refuse('token_wrong_issuer', `the token was issued by ${JSON.stringify(unverified.iss ?? '(none)')}; this broker trusts tokens from ${settings.issuer} only`, `Sign in through this broker: byoc login (it uses ${settings.issuer})`);
    }
    let payload: import('jose').JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, await keySet(), {
        issuer: settings.issuer,
        audience,
        currentDate: deps.now(),
        clockTolerance: deps.clockTolerance ?? 30,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw verificationError(jose, error, settings, audience, login);
    }
    const identity = payload[settings.identityClaim];
    if (typeof identity !== 'string' || identity.trim() === '') {
      throw refuse(
        'identity_claim_missing',
        `the token carries no ${settings.identityClaim} claim, which this broker takes as your identity (broker.oidc.identityClaim)`,
        `Ask the identity-provider administrators to release the ${settings.identityClaim} claim to client ${settings.clientId}${settings.audience ? ` in access tokens for ${settings.audience}` : ' in its ID tokens'}, or the broker operator to set broker.oidc.identityClaim to a claim it carries.`,
      );
    }
    const groupsValue = settings.groupsClaim ? payload[settings.groupsClaim] : undefined;
    const groups = Array.isArray(groupsValue) ? groupsValue.filter((group): group is string => typeof group === 'string') : typeof groupsValue === 'string' ? [groupsValue] : [];
    return { identity, groups, via: 'oidc' };
  };
}

function verificationError(jose: typeof import('jose'), error: unknown, settings: OidcSettings, audience: string, login: string): Error {
  if (error instanceof RemoteError) return error;
  if (error instanceof jose.errors.JWTExpired) return refuse('token_expired', `the token expired at ${new Date(Number(error.payload.exp) * 1000).toISOString()}`, login);
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      const said = JSON.stringify(error.payload.aud ?? '(none)');
      return refuse('token_wrong_audience', `the token is for ${said}, not for this broker (${audience})`, settings.audience ? `The broker takes access tokens issued for ${settings.audience}: sign in with byoc login.` : `The broker takes ID tokens issued to client ${settings.clientId}: sign in with byoc login.`);
    }
    return refuse('token_invalid', `the token's ${error.claim} claim is not acceptable: ${error.message}`, login);
  }
  if (error instanceof jose.errors.JWKSTimeout) {
    return new RemoteError('identity_provider_unreachable', `the broker could not fetch the signing keys of ${settings.issuer} in time`, { hint: 'Retry in a minute; the broker operator can check that the broker reaches the identity provider.' });
  }
  if (error instanceof jose.errors.JOSEError) return refuse('token_invalid', `the token's signature does not verify with the keys of ${settings.issuer} (${error.code})`, login);
  return new RemoteError('identity_provider_unreachable', `the broker could not fetch the signing keys of ${settings.issuer}: ${(error as Error).message}`, {
    hint: 'Retry in a minute; the broker operator can check that the broker reaches the identity provider.',
  });
}

/** The provider's JWKS URI from its discovery document, checked to be the provider's own (OpenID Connect Discovery §4.3). */
async function discoverKeys(issuer: string): Promise<import('jose').JWTVerifyGetKey> {
  const { createRemoteJWKSet } = await import('jose');
  const where = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const response = await fetch(where, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`${where} answered ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw new RemoteError('identity_provider_unreachable', `the broker could not read the discovery document of ${issuer}: ${(error as Error).message}`, {
      hint: 'Check broker.oidc.issuer and that the broker reaches the identity provider; retry in a minute.',
    });
  }
  if (document.issuer !== issuer || typeof document.jwks_uri !== 'string') {
    throw new RemoteError('identity_provider_mismatch', `${where} names issuer ${JSON.stringify(document.issuer)}, not ${issuer}`, {
      hint: 'Set broker.oidc.issuer to exactly the issuer the provider names (trailing slash included).',
    });
  }
  return createRemoteJWKSet(new URL(document.jwks_uri), { timeoutDuration: 10_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
}

/** `broker.oidc` from the configuration, or undefined when no issuer is set; half a configuration is exit 3. */
export function oidcSettingsFrom(configuration: Pick<import('../config/configuration.js').Configuration, 'get'>): OidcSettings | undefined {
  const issuer = configuration.get<string>('broker.oidc.issuer');
  const clientId = configuration.get<string>('broker.oidc.clientId');
  if (!issuer && !clientId) return undefined;
  if (!issuer || !clientId) {
    throw new ConfigError('oidc_incomplete', `broker.oidc needs both issuer and clientId (${issuer ? 'clientId' : 'issuer'} is missing)`, {
      hint: 'Set broker.oidc.issuer (BYOC_OIDC_ISSUER) to the provider’s issuer and broker.oidc.clientId (BYOC_OIDC_CLIENT_ID) to byoc’s public client there.',
    });
  }
  const audience = configuration.get<string>('broker.oidc.audience');
  const groupsClaim = configuration.get<string>('broker.oidc.groupsClaim');
  return {
    issuer,
    clientId,
    ...(audience ? { audience } : {}),
    identityClaim: configuration.get<string>('broker.oidc.identityClaim') ?? 'email',
    ...(groupsClaim ? { groupsClaim } : {}),
    scopes: configuration.get<string[]>('broker.oidc.scopes') ?? ['openid', 'email', 'offline_access'],
  };
}

/** The served broker's sign-in options from its configuration: what GET /v1/auth says, and the JWT check when broker.oidc is set. */
export function brokerAuthOptions(
  configuration: Pick<import('../config/configuration.js').Configuration, 'get'>,
  now: () => Date,
): { auth: AuthDescription; verifyBearer?: (token: string) => Promise<Principal> } {
  const settings = oidcSettingsFrom(configuration);
  return { auth: describeAuth(settings), ...(settings ? { verifyBearer: createOidcVerifier(settings, { now }) } : {}) };
}
