import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverTestProvider, ScriptedBrowser, startTestProvider, type TestProvider } from '../support/oidc-provider.js';

const providers: TestProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});


describe('the test OpenID provider (harness)', () => {
  it('signs a scripted user in through code + PKCE to a loopback redirect on any port, with a refresh token', async () => {
    // Given a provider issuing JWT access tokens for the broker's audience
    const provider = await startTestProvider({ audience: 'https://broker.test', accounts: { alice: { email: 'alice@vendor.example', groups: ['oncall'] } } });
    providers.push(provider);
    const config = await discoverTestProvider(provider);
    // and a loopback redirect server on a port chosen by the system
    let callback: URL | undefined;
    const server = createServer((request, response) => {
      callback = new URL(request.url!, 'http://127.0.0.1');
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    try {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email groups offline_access',
        prompt: 'consent',
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      // When a scripted browser signs in as alice and consents
      await new ScriptedBrowser('alice').visit(url.href, redirectUri);
      expect(callback?.searchParams.get('code')).toBeTruthy();
      const tokens = await client.authorizationCodeGrant(config, new URL(`${redirectUri}${callback!.search}`), { pkceCodeVerifier: verifier, expectedState: state });
      // Then the access token is a JWT for the broker carrying the identity claims, and a refresh token came too
      const access = decodeJwt(tokens.access_token);
      expect(access).toMatchObject({ iss: provider.issuer, aud: 'https://broker.test', email: 'alice@vendor.example', groups: ['oncall'] });
      expect(tokens.refresh_token).toBeTruthy();
      expect(decodeJwt(tokens.id_token!)).toMatchObject({ aud: provider.clientId, email: 'alice@vendor.example' });
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ aud: 'https://broker.test', email: 'alice@vendor.example' });
    } finally {
      server.close();
    }
  });

  it('approves a device code from a scripted browser', async () => {
    const provider = await startTestProvider({ deviceInterval: 1 });
    providers.push(provider);
    const config = await discoverTestProvider(provider);
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid email offline_access' });
    expect(device.interval).toBe(1);
    const polled = client.pollDeviceAuthorizationGrant(config, device);
    await new ScriptedBrowser('bob').approveDevice(device.verification_uri_complete!);
    const tokens = await polled;
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ iss: provider.issuer, aud: provider.clientId, email: 'bob@vendor.example' });
    expect(tokens.refresh_token).toBeTruthy();
  });
});
