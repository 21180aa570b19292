/**
 * A real, certified OpenID provider (the `oidc-provider` package) on a loopback port, for the tests: its development
 * interactions (a login form that takes any name, a consent page) are driven by {@link ScriptedBrowser}, an HTTP
 * client with a cookie jar, so no test needs a browser. Each instance has its own signing key, so a token from one
 * never verifies with another's keys.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

const CLIENT_ID = 'byoc-cli';

export interface TestProviderOptions {
  /** JWT access tokens for this audience (RFC 8707 resource indicators); absent: opaque access tokens, the ID token is what a broker checks */
  audience?: string;
  /** seconds */
  accessTokenTtl?: number;
  idTokenTtl?: number;
  refreshTokenTtl?: number;
  /** login name → claims; any other login gets `<login>@vendor.example` and no groups */
  accounts?: Record<string, { email?: string; groups?: string[] }>;
  /** the interval a device client is told to poll at (oidc-provider's default is 5 s; tests need not wait that long) */
  deviceInterval?: number;
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  provider: Provider;
  close(): Promise<void>;
}

function claimsOf(login: string, accounts: NonNullable<TestProviderOptions['accounts']>): { email?: string; groups: string[] } {
  const account = accounts[login];
  if (!account) return { email: `${login}@vendor.example`, groups: [] };
  return { ...(account.email !== undefined ? { email: account.email } : {}), groups: account.groups ?? [] };
}

/** Starts a provider on 127.0.0.1 with a public native client `byoc-cli` (RFC 8252: any loopback port). */
export async function startTestProvider(options: TestProviderOptions = {}): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = options.accounts ?? {};
  const jwk = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
  const configuration: Configuration = {
    clients: [
      {
        client_id: CLIENT_ID,
        // native + http loopback: oidc-provider matches the redirect URI ignoring the port, as RFC 8252 §7.3 asks
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => {
        const { email, groups } = claimsOf(id, accounts);
        return { sub: id, ...(email !== undefined ? { email, email_verified: true } : {}), groups };
      },
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    // the ID token from the token endpoint carries the scope's claims (email), as most providers' do
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: { keys: [randomUUID()] },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: {
        enabled: true,
        // plain pages instead of the defaults' notices on every render
        userCodeInputSource: (ctx, form) => void (ctx.body = `<!DOCTYPE html><title>Device</title>${form}`),
        userCodeConfirmSource: (ctx, form, _client, _info, code) => void (ctx.body = `<!DOCTYPE html><title>Confirm ${code}</title>${form}`),
        successSource: (ctx) => void (ctx.body = '<!DOCTYPE html><title>Signed in</title><p>Signed in: return to your device.</p>'),
      },
      revocation: { enabled: true },
      ...(options.audience
        ? {
            resourceIndicators: {
              enabled: true,
              defaultResource: () => options.audience!,
              useGrantedResource: () => true,
              getResourceServerInfo: () => ({ scope: 'openid email groups', audience: options.audience!, accessTokenFormat: 'jwt', accessTokenTTL: options.accessTokenTtl ?? 3600 }),
            },
          }
        : {}),
    },
    // JWT access tokens carry the identity claims too (as an Okta or Auth0 API audience can be set up to)
    extraTokenClaims: (_ctx, token) => {
      if (!('accountId' in token) || typeof token.accountId !== 'string') return undefined;
      const { email, groups } = claimsOf(token.accountId, accounts);
      return { ...(email !== undefined ? { email } : {}), groups };
    },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      IdToken: options.idTokenTtl ?? 3600,
      RefreshToken: options.refreshTokenTtl ?? 86_400,
      DeviceCode: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 86_400,
    },
  };
  const provider = new Provider(issuer, configuration);
  if (options.deviceInterval !== undefined) {
    const interval = options.deviceInterval;
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.path === '/device/auth' && body && typeof body === 'object' && 'device_code' in body) body.interval = interval;
    });
  }
  // quiet: errors a test provokes on purpose (a revoked token) are not failures of the provider
  provider.on('server_error', () => undefined);
  const callback = provider.callback();
  server.on('request', (request, response) => void callback(request, response));
  return {
    issuer,
    clientId: CLIENT_ID,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Form {
  action: string;
  fields: Record<string, string>;
  hasLogin: boolean;
}

function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

const unescape = (value: string) => value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/** The first form of a page, with its hidden fields (what the provider's pages submit). */
function firstForm(html: string, base: string): Form | undefined {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const action = attribute(form[0].slice(0, form[0].indexOf('>') + 1), 'action');
  if (!action) return undefined;
  const fields: Record<string, string> = {};
  for (const [input] of form[1]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, 'name');
    const value = attribute(input, 'value');
    if (name && value !== undefined) fields[name] = unescape(value);
  }
  return { action: new URL(unescape(action), base).href, fields, hasLogin: /name="login"/.test(form[1]!) };
}

/**
 * A person at a browser, as a script: follows redirects with a cookie jar, signs in on the provider's development
 * login form as `login`, consents, confirms a device code. What it does not understand (an error page) is thrown
 * with the page's text, so a test failure says what the provider said.
 */
export class ScriptedBrowser {
  private readonly cookies = new Map<string, string>();
  /** every URL visited, in order */
  readonly visited: string[] = [];

  constructor(private readonly login: string) {}

  private async request(url: string, init: { method?: string; body?: URLSearchParams } = {}): Promise<Response> {
    this.visited.push(url);
    const headers: Record<string, string> = {};
    const host = new URL(url).host;
    const jar = [...this.cookies.entries()].filter(([key]) => key.startsWith(`${host}|`)).map(([key, value]) => `${key.slice(host.length + 1)}=${value}`);
    if (jar.length) headers.cookie = jar.join('; ');
    if (init.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method: init.method ?? 'GET', headers, redirect: 'manual', ...(init.body ? { body: init.body } : {}) });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = pair!.indexOf('=');
      this.cookies.set(`${host}|${pair!.slice(0, index).trim()}`, pair!.slice(index + 1).trim());
    }
    return response;
  }

  /**
   * Opens `url` and goes through whatever the provider shows until it redirects to a URL starting with `stopAt`
   * (default: any `/callback` path; that URL is then opened: the CLI's loopback redirect) or shows a page without
   * a form (device flow: done). Returns the last response's text.
   */
  async visit(url: string, stopAt?: string): Promise<{ url: string; status: number; text: string }> {
    let next: { url: string; method: string; body?: URLSearchParams } = { url, method: 'GET' };
    for (let step = 0; step < 30; step += 1) {
      const response = await this.request(next.url, next);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        const target = new URL(location, next.url).href;
        if (stopAt ? target.startsWith(stopAt) : new URL(target).pathname === '/callback') {
          const final = await fetch(target);
          return { url: target, status: final.status, text: await final.text() };
        }
        next = { url: target, method: 'GET' };
        continue;
      }
      const text = await response.text();
      if (response.status >= 400) throw new Error(`the provider answered ${response.status} at ${next.url}: ${text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400)}`);
      const form = firstForm(text, next.url);
      if (!form) return { url: next.url, status: response.status, text };
      const fields = { ...form.fields, ...(form.hasLogin ? { login: this.login, password: 'any' } : {}) };
      next = { url: form.action, method: 'POST', body: new URLSearchParams(fields) };
    }
    throw new Error(`gave up after 30 steps from ${url}: ${this.visited.join(' → ')}`);
  }

  /** Approves a device code as its user would: the verification page, the code, sign-in, consent, confirmation. */
  async approveDevice(verificationUriComplete: string): Promise<string> {
    return (await this.visit(verificationUriComplete)).text;
  }
}

/** Discovery as the CLI does it against a loopback provider (plain HTTP allowed: loopback only). */
export async function discoverTestProvider(provider: Pick<TestProvider, 'issuer' | 'clientId'>) {
  const client = await import('openid-client');
  return client.discovery(new URL(provider.issuer), provider.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
}

/**
 * Tokens for `login` straight from the provider (code + PKCE through a loopback redirect, driven by a scripted
 * browser), for tests that talk to the broker with raw HTTP.
 */
export async function tokensFor(provider: TestProvider, login: string, scope = 'openid email groups offline_access') {
  const client = await import('openid-client');
  const config = await discoverTestProvider(provider);
  let callback = '';
  const server = createServer((request, response) => {
    callback = new URL(request.url ?? '/', 'http://127.0.0.1').search;
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  try {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      prompt: 'consent',
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await new ScriptedBrowser(login).visit(url.href, redirectUri);
    const tokens = await client.authorizationCodeGrant(config, new URL(`${redirectUri}${callback}`), { pkceCodeVerifier: verifier, expectedState: state });
    return { accessToken: tokens.access_token, idToken: tokens.id_token!, refreshToken: tokens.refresh_token };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
