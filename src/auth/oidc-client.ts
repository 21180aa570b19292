/**
 * The CLI's side of single sign-on, with openid-client (a certified relying party): discovery of the provider the
 * broker names, authorization code + PKCE through a loopback redirect (RFC 8252), the device authorization grant
 * (RFC 8628), refresh and revocation. Loaded only by login, logout and a silent renewal.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as OpenId from 'openid-client';
import type { Context } from '../context.js';
import { abortReason, ConfigError, NotAllowedError, RemoteError, UsageError } from '../errors.js';
import type { AuthDescription } from './broker-auth.js';

export type OidcDescription = NonNullable<AuthDescription['oidc']>;

/** How long a person has to finish signing in (browser or device) before byoc gives up. */
const SIGN_IN_TIMEOUT_MS = 10 * 60_000;

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

/**
 * Discovery of the provider, as a public client (no secret: byoc runs on people's machines). Every request of the
 * returned configuration (discovery, tokens, device codes, revocation) goes through byoc's network layer.
 */
export async function discover(ctx: Context, issuer: string, clientId: string): Promise<OpenId.Configuration> {
  const client = await import('openid-client');
  const url = new URL(issuer);
  // openid-client refuses plain HTTP, rightly: tokens would cross the network in clear. A provider on this very
  // machine (the tests' oidc-provider, a developer's local one) never leaves it, so plain HTTP is allowed for a
  // loopback issuer only, and never for any other.
  const loopbackHttp = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.protocol === 'http:' && !loopbackHttp) {
    throw new ConfigError('issuer_insecure', `the identity provider ${issuer} is plain HTTP on a non-loopback address: byoc signs in over HTTPS only`, {
      hint: 'The broker operator sets broker.oidc.issuer to the provider’s https:// issuer.',
    });
  }
  try {
    const { networkFetch } = await import('../net/fetch.js');
    return await client.discovery(url, clientId, undefined, client.None(), {
      [client.customFetch]: networkFetch(ctx) as OpenId.CustomFetch,
      ...(loopbackHttp ? { execute: [client.allowInsecureRequests] } : {}),
    });
  } catch (error) {
    throw providerError(error, issuer, 'read its discovery document');
  }
}

/** An openid-client failure as byoc's errors: the provider's refusal is exit 4, a provider out of reach exit 5. */
function providerError(error: unknown, issuer: string, doing: string): Error {
  const detail = error as { error?: string; error_description?: string; code?: string; message?: string; cause?: unknown };
  if (typeof detail.error === 'string') {
    const said = `${detail.error}${detail.error_description ? `: ${detail.error_description}` : ''}`;
    return new NotAllowedError('identity_provider_refused', `the identity provider ${issuer} refused to ${doing} (${said})`, { hint: 'Run byoc login again; if it keeps failing, show this message to the identity-provider administrators.' });
  }
  if (error instanceof Error && error.name === 'AbortError') return error;
  return new RemoteError('identity_provider_unreachable', `could not ${doing} at the identity provider ${issuer}: ${detail.message ?? String(error)}${detail.cause instanceof Error ? ` (${detail.cause.message})` : ''}`, {
    hint: `Check that this machine reaches ${issuer} (proxy, VPN), then retry.`,
  });
}

const scopeOf = (auth: OidcDescription) => auth.scopes.join(' ');

/** The page the browser shows once the redirect came back: the terminal has the result. */
const page = (title: string, text: string) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`;

/**
 * Authorization code + PKCE: a one-shot redirect server on 127.0.0.1 (`port` 0: any free port, which RFC 8252
 * §7.3 requires providers to accept for a loopback redirect), the browser opened on a TTY, the URL printed to
 * stderr always (a person can copy it to a browser elsewhere).
 */
export async function codeLogin(ctx: Context, config: OpenId.Configuration, auth: OidcDescription, options: { port: number; browser: boolean }): Promise<OpenId.TokenEndpointResponse> {
  const client = await import('openid-client');
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  let received: (url: URL) => void = () => undefined;
  const callback = new Promise<URL>((resolve) => (received = resolve));
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback' || request.method !== 'GET') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const refused = url.searchParams.get('error');
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(refused ? page('Sign-in failed', 'The identity provider refused the sign-in; the terminal says why.') : page('Signed in', 'You can close this tab and return to the terminal.'));
    received(url);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    throw new UsageError('login_port_unavailable', `cannot listen on 127.0.0.1:${options.port} for the sign-in redirect: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'Pass another --port, or --port 0 for any free port (if the provider allows any loopback port), or use --device.',
    });
  }
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: scopeOf(auth),
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // OpenID Connect Core §11: a refresh token (offline_access) is granted on an explicit consent only
      ...(auth.scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
    });
    ctx.log.info(`Sign in at ${auth.issuer} by opening this URL in a browser:\n\n  ${url.href}\n`);
    if (options.browser && ctx.output.stderrIsTTY) {
      const opened = await (await ctx.client('browser')).open(url.href).catch(() => false);
      if (!opened) ctx.log.warn('could not open a browser: open the URL above yourself');
    }
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(SIGN_IN_TIMEOUT_MS)]);
    const returned = await new Promise<URL>((resolve, reject) => {
      const aborted = () => reject(ctx.signal.aborted ? abortReason(ctx.signal) : new NotAllowedError('login_timeout', `nobody finished signing in within ${SIGN_IN_TIMEOUT_MS / 60_000} minutes`, { hint: 'Run byoc login again, or byoc login --device on a machine without a browser.' }));
      if (signal.aborted) return aborted();
      signal.addEventListener('abort', aborted, { once: true });
      void callback.then(resolve);
    });
    try {
      return await client.authorizationCodeGrant(config, new URL(`${redirectUri}${returned.search}`), { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: auth.scopes.includes('openid') });
    } catch (error) {
      throw providerError(error, auth.issuer, 'sign you in');
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The device authorization grant (RFC 8628): the code and where to enter it on stderr, then polling. */
export async function deviceLogin(ctx: Context, config: OpenId.Configuration, auth: OidcDescription): Promise<OpenId.TokenEndpointResponse> {
  const client = await import('openid-client');
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new ConfigError('device_flow_unavailable', `the identity provider ${auth.issuer} offers no device authorization (RFC 8628)`, {
      hint: 'Sign in with a browser (byoc login without --device), or ask the identity-provider administrators to enable the device flow for client ' + auth.clientId + '.',
    });
  }
  let started: OpenId.DeviceAuthorizationResponse;
  try {
    started = await client.initiateDeviceAuthorization(config, { scope: scopeOf(auth) });
  } catch (error) {
    throw providerError(error, auth.issuer, 'start a device sign-in');
  }
  ctx.log.info(
    `To sign in, open ${started.verification_uri} on any device and enter the code ${started.user_code}` +
      (started.verification_uri_complete ? `\n(or open ${started.verification_uri_complete})` : '') +
      `\nWaiting for you to finish (the code expires in ${Math.round(started.expires_in / 60)} minutes)...`,
  );
  try {
    return await client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.min(SIGN_IN_TIMEOUT_MS, started.expires_in * 1000))]) });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') {
      throw new NotAllowedError('login_timeout', 'the device code expired before the sign-in was approved', { hint: 'Run byoc login --device again.' });
    }
    throw providerError(error, auth.issuer, 'sign you in');
  }
}

/** A new token from the refresh token; the provider's refusal (revoked, expired) is a NotAllowedError. */
export async function refreshTokens(config: OpenId.Configuration, refreshToken: string, issuer: string): Promise<OpenId.TokenEndpointResponse> {
  const client = await import('openid-client');
  try {
    return await client.refreshTokenGrant(config, refreshToken);
  } catch (error) {
    throw providerError(error, issuer, 'renew your session');
  }
}

/** Revokes a refresh token where the provider offers revocation (RFC 7009); false when it offers none. */
export async function revokeRefreshToken(config: OpenId.Configuration, refreshToken: string, issuer: string): Promise<boolean> {
  const client = await import('openid-client');
  if (!config.serverMetadata().revocation_endpoint) return false;
  try {
    await client.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
    return true;
  } catch (error) {
    throw providerError(error, issuer, 'revoke your refresh token');
  }
}
