/**
 * byoc login / logout against a real OpenID provider (oidc-provider on loopback) and a broker served on loopback:
 * code + PKCE through the CLI's loopback redirect (a scripted browser stands in for the person), the device flow
 * approved by a scripted HTTP client, silent renewal, a revoked refresh token, and a whole team's day end to end.
 */
import { statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identityDirName } from '../../src/pki/store.js';
import { tempDir } from '../fakes/fs.js';
import { serveOidcBroker } from '../support/oidc-broker.js';
import { loginWithBrowser, loginWithDevice, person, scriptedBrowser, waitFor } from '../support/oidc-people.js';
import { discoverTestProvider, ScriptedBrowser, startTestProvider, type TestProvider, type TestProviderOptions } from '../support/oidc-provider.js';

const AUDIENCE = 'https://broker.vendor.example';
const providers: TestProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});

async function team(options: { provider?: TestProviderOptions; scopes?: string[] } = {}) {
  const idp = await startTestProvider({
    audience: AUDIENCE,
    deviceInterval: 1,
    accounts: { alice: { email: 'alice@vendor.example', groups: ['oncall'] }, bob: { email: 'bob@vendor.example', groups: ['approvers'] } },
    ...options.provider,
  });
  providers.push(idp);
  const broker = await serveOidcBroker({
    oidc: { issuer: idp.issuer, clientId: idp.clientId, audience: AUDIENCE, groupsClaim: 'groups', scopes: options.scopes ?? ['openid', 'email', 'groups', 'offline_access'] },
    approvers: ['bob@vendor.example'],
  });
  // the engineers' own configuration: only the broker's URL
  const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: ${broker.url} }\nservices: { acme-prod: {} }\n` });
  return { idp, broker, cwd };
}

describe('byoc login: authorization code + PKCE through a loopback redirect', () => {
  it('on a TTY opens the browser, signs in, asks the broker who that is, and stores the session 0600', async () => {
    // Given a team broker that trusts the provider, and alice with only its URL configured
    const { idp, broker, cwd } = await team();
    const alice = person(cwd);
    // When she runs byoc login and signs in in the browser byoc opened
    const { browser, done } = scriptedBrowser('alice');
    const result = await alice.run(['login', '--json'], { browser, stderrTTY: true });
    await done();
    // Then she is signed in as the broker says, with her groups, a renewable session, stored for her only
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ broker: broker.url, issuer: idp.issuer, identity: 'alice@vendor.example', groups: ['oncall'], refreshable: true, flow: 'authorization_code' });
    browser.assertAllCalled();
    expect(result.stderr).toContain(`Sign in at ${idp.issuer} by opening this URL in a browser`);
    const file = path.join(alice.stateDir, 'auth', 'session.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // and byoc talks to the broker with it, no BYOC_TOKEN needed
    const mine = await alice.run(['access', 'request', 'acme-prod', '--reason', 'disk full', '--duration', '1h', '--no-wait', '--json']);
    expect(JSON.parse(mine.stdout)).toMatchObject({ requester: 'alice@vendor.example', status: 'pending' });
  });

  it('without a TTY prints the URL to stderr and never opens a browser', async () => {
    const { cwd } = await team();
    const alice = person(cwd);
    // Given no terminal: the strict fake browser fails if byoc opens it
    const result = await alice.run(['login', '--json'], {
      during: async (stderr) => {
        const [, url] = await waitFor(stderr, /^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
        // Then the person opens the printed URL elsewhere; it redirects to byoc's loopback port
        const visited = await new ScriptedBrowser('alice').visit(url!);
        expect(visited.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
        expect(visited.text).toContain('You can close this tab');
      },
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ identity: 'alice@vendor.example' });
  });

  it('with --no-browser on a TTY prints the URL and never opens a browser', async () => {
    const { cwd } = await team();
    const alice = person(cwd);
    // Given a terminal, and a strict fake browser that fails if byoc opens it
    const result = await alice.run(['login', '--no-browser', '--json'], {
      stderrTTY: true,
      during: async (stderr) => {
        const [, url] = await waitFor(stderr, /^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
        await new ScriptedBrowser('alice').visit(url!);
      },
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ identity: 'alice@vendor.example' });
  });

  it('binds the redirect to --port when given (a provider that registers exact ports)', async () => {
    const { cwd } = await team();
    const alice = person(cwd);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const result = await alice.run(['login', '--port', String(port), '--json'], {
      during: async (stderr) => {
        const [, url] = await waitFor(stderr, /^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
        expect(new URL(url!).searchParams.get('redirect_uri')).toBe(`http://127.0.0.1:${port}/callback`);
        await new ScriptedBrowser('alice').visit(url!);
      },
    });
    expect(result.exitCode, result.stderr).toBe(0);
  });
});

describe('byoc login and logout for people (text on a pipe)', () => {
  it('say who, where, for how long, and what logout removed', async () => {
    const { broker, cwd } = await team();
    const alice = person(cwd);
    const { browser, done } = scriptedBrowser('alice');
    const login = await alice.run(['login'], { browser, stderrTTY: true });
    await done();
    const expiresAt = String((await alice.session()).expiresAt);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(login.stdout).toBe(`signed in to ${broker.url} as alice@vendor.example (groups: oncall); token valid until ${expiresAt}, renewed silently\n`);
    const logout = await alice.run(['logout']);
    expect(logout.stdout).toBe(`signed out alice@vendor.example from ${broker.url} (refresh token revoked)\n`);
    expect((await alice.run(['logout'])).stdout).toBe('not signed in: nothing to do\n');
  });
});

describe('byoc login --device (RFC 8628)', () => {
  it('prints where to go and the code, polls, and stores the session once approved elsewhere', async () => {
    const { cwd } = await team();
    const bob = person(cwd);
    const result = await loginWithDevice(bob, 'bob');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/To sign in, open http:\/\/127\.0\.0\.1:\d+\/device on any device and enter the code [A-Z]{4}-[A-Z]{4}/);
    expect(JSON.parse(result.stdout)).toMatchObject({ identity: 'bob@vendor.example', groups: ['approvers'], flow: 'device_code', refreshable: true });
    expect((await bob.run(['access', 'list', '--json'])).exitCode).toBe(0);
  });
});

describe('byoc login reaches the identity provider through byoc\'s network layer', () => {
  it('with network.proxy set, discovery, the device code and the token requests all go through that proxy', async () => {
    // Given a team whose engineers reach everything through a configured HTTP proxy (as with tailscaled's), which
    // records every tunnel it opens
    const { idp, broker, cwd } = await team();
    const tunnels: string[] = [];
    const proxy: Server = createServer((_request, response) => response.writeHead(405).end());
    proxy.on('connect', (request, socket) => {
      tunnels.push(request.url ?? '');
      const [host, port] = (request.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      writeFileSync(path.join(cwd, 'byoc.config.yaml'), `broker: { url: ${broker.url} }\nnetwork: { proxy: ${proxyUrl} }\nservices: { acme-prod: {} }\n`);
      // When bob signs in with the device flow
      const bob = person(cwd);
      const result = await loginWithDevice(bob, 'bob');
      // Then he is signed in, and the identity provider was reached only through the proxy (the broker too)
      expect(result.exitCode, result.stderr).toBe(0);
      const issuer = new URL(idp.issuer);
      expect(tunnels).toContain(`${issuer.hostname}:${issuer.port}`);
      expect(tunnels).toContain(new URL(broker.url).host);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe('the session: silent renewal and its end', () => {
  it('renews a token near expiry with the refresh token, without a word', async () => {
    // Given alice signed in with access tokens that live two minutes
    const { cwd } = await team({ provider: { accessTokenTtl: 120 } });
    const alice = person(cwd);
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    const before = await alice.session();
    // When three minutes pass on her machine and she uses byoc
    alice.clock.advance(3 * 60_000);
    const list = await alice.run(['access', 'list', '--json']);
    // Then it works, and the session holds a new token
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stderr).toBe('');
    const after = await alice.session();
    expect(after.token).not.toBe(before.token);
    expect(after.renewedAt).toBeDefined();
  });

  it('two runs renewing at once renew once: the rotated refresh token is never used twice (which would end the grant)', async () => {
    // Given alice signed in, and her token expired
    const { cwd } = await team({ provider: { accessTokenTtl: 120 } });
    const alice = person(cwd);
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    const before = await alice.session();
    alice.clock.advance(3 * 60_000);
    // When two byoc runs start at the same moment
    const runs = await Promise.all([alice.run(['access', 'list', '--json']), alice.run(['access', 'list', '--json'])]);
    // Then both work, and the session's refresh token still works afterwards (the provider saw no reuse)
    expect(runs.map((run) => run.exitCode)).toEqual([0, 0]);
    expect((await alice.session()).refreshToken).not.toBe(before.refreshToken);
    alice.clock.advance(3 * 60_000);
    const later = await alice.run(['access', 'list', '--json']);
    expect(later.exitCode, later.stderr).toBe(0);
  });

  it('renews once and retries when the broker finds the token expired though this machine does not (clocks apart)', async () => {
    // Given alice signed in, and a broker whose clock runs ahead: it sees her token as expired, a newer one as valid
    const { cwd, broker } = await team({ provider: { accessTokenTtl: 120 } });
    const alice = person(cwd);
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    const before = await alice.session();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // (the broker tolerates 30 s: one second past that for the first token; a token issued 2 s later is still good)
    broker.clock.advance(Date.parse(String(before.expiresAt)) + 31_000 - broker.clock.now().getTime());
    // When she uses byoc (her own clock says the token has two minutes left)
    const list = await alice.run(['access', 'list', '--json']);
    // Then the call succeeds after one silent renewal
    expect(list.exitCode, list.stderr).toBe(0);
    expect((await alice.session()).token).not.toBe(before.token);
  });

  it('a revoked refresh token ends the session: exit 4 with "run byoc login"', async () => {
    const { idp, cwd } = await team({ provider: { accessTokenTtl: 120 } });
    const alice = person(cwd);
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    // Given her refresh token was revoked at the provider (an administrator, or a logout elsewhere)
    const client = await import('openid-client');
    await client.tokenRevocation(await discoverTestProvider(idp), String((await alice.session()).refreshToken));
    // When her token has expired and byoc tries to renew it
    alice.clock.advance(3 * 60_000);
    const result = await alice.run(['access', 'list', '--json']);
    // Then she is told to sign in again
    expect(result.exitCode).toBe(4);
    const { error } = JSON.parse(result.stderr);
    expect(error.code).toBe('session_expired');
    expect(error.message).toContain('could not be renewed');
    expect(error.message).toContain('invalid_grant');
    expect(error.hint).toBe('Sign in again: run byoc login');
  });

  it('a session without a refresh token ends at its expiry: exit 4 with "run byoc login"', async () => {
    const { cwd } = await team({ provider: { accessTokenTtl: 120 }, scopes: ['openid', 'email'] });
    const alice = person(cwd);
    const login = await loginWithBrowser(alice, 'alice');
    expect(JSON.parse(login.stdout)).toMatchObject({ refreshable: false });
    alice.clock.advance(3 * 60_000);
    const result = await alice.run(['access', 'list', '--json']);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'session_expired', hint: 'Sign in again: run byoc login' });
  });

  it('not signed in to a served broker (no session, no BYOC_TOKEN): exit 4 with byoc login', async () => {
    const { cwd } = await team();
    const result = await person(cwd).run(['access', 'list', '--json']);
    expect(result.exitCode).toBe(4);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'not_signed_in', hint: expect.stringContaining('Run byoc login') });
  });

  it('BYOC_TOKEN wins over the session (automation)', async () => {
    const { cwd, broker } = await team();
    const token = await broker.broker.createToken('robot@vendor.example');
    const robot = person(cwd, { BYOC_TOKEN: token });
    const login = await loginWithBrowser(robot, 'alice');
    expect(login.exitCode).toBe(0);
    expect(login.stderr).toContain('warning: BYOC_TOKEN is set: byoc uses it rather than this session until it is unset');
    const requested = await robot.run(['access', 'request', 'acme-prod', '--reason', 'nightly check', '--duration', '1h', '--no-wait', '--json']);
    expect(JSON.parse(requested.stdout)).toMatchObject({ requester: 'robot@vendor.example' });
  });

  it('a token the broker refuses (no identity claim) is exit 4 with the broker\'s reason, and nothing is stored', async () => {
    const { cwd } = await team({ provider: { accounts: { nomail: { groups: [] } } } });
    const nomail = person(cwd);
    const result = await loginWithBrowser(nomail, 'nomail');
    expect(result.exitCode).toBe(4);
    // the sign-in URL came first on stderr; the error document is its last line
    expect(JSON.parse(result.stderr.trim().split('\n').at(-1)!).error).toMatchObject({ code: 'identity_claim_missing' });
    await expect(readFile(path.join(nomail.stateDir, 'auth', 'session.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('login against a broker without broker.oidc: exit 3 saying so', async () => {
    const broker = await serveOidcBroker({});
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: ${broker.url} }\n` });
    const result = await person(cwd).run(['login', '--json']);
    expect(result.exitCode).toBe(3);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'oidc_not_offered', hint: expect.stringContaining('BYOC_TOKEN') });
  });
});

describe('a team signs in (both flows), requests, approves, signs out', () => {
  it('alice (browser) requests, bob (device) approves, alice gets a certificate; logout removes session and certificates', async () => {
    const { idp, cwd } = await team();
    const alice = person(cwd);
    const bob = person(cwd);
    // Given alice signed in with the browser and bob with a device code
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    expect((await loginWithDevice(bob, 'bob')).exitCode).toBe(0);
    // When alice asks for access and bob approves it
    const requested = JSON.parse((await alice.run(['access', 'request', 'acme-prod', '--reason', 'merges stuck', '--duration', '1h', '--no-wait', '--json'])).stdout) as { id: string };
    const approved = await bob.run(['access', 'approve', requested.id, '--json']);
    expect(approved.exitCode, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ status: 'approved', reviews: [{ reviewer: 'bob@vendor.example', decision: 'approve' }] });
    // Then alice gets her certificate
    const cert = await alice.run(['cert', 'get', 'acme-prod', '--json']);
    expect(cert.exitCode, cert.stderr).toBe(0);
    expect((await alice.run(['cert', 'list', '--json'])).stdout).toContain('acme-prod');
    const keyFile = path.join(alice.stateDir, 'certs', identityDirName('alice@vendor.example'), 'acme-prod', 'key.pem');
    expect(statSync(keyFile).isFile()).toBe(true);
    const refreshToken = String((await alice.session()).refreshToken);
    // When she signs out
    const logout = await alice.run(['logout', '--json']);
    expect(logout.exitCode, logout.stderr).toBe(0);
    expect(JSON.parse(logout.stdout)).toEqual({ signedOut: true, identity: 'alice@vendor.example', broker: expect.any(String), revoked: true, certificates: ['acme-prod'] });
    // Then her session and her keys and certificates are gone from this machine
    await expect(readFile(path.join(alice.stateDir, 'auth', 'session.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(keyFile)).rejects.toMatchObject({ code: 'ENOENT' });
    // and her refresh token no longer works at the provider
    const client = await import('openid-client');
    await expect(client.refreshTokenGrant(await discoverTestProvider(idp), refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    // and byoc now says she is not signed in
    expect((await alice.run(['access', 'list', '--json'])).exitCode).toBe(4);
    // A second logout has nothing to do
    expect(JSON.parse((await alice.run(['logout', '--json'])).stdout)).toMatchObject({ signedOut: false });
  });
});
