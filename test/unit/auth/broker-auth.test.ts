import { describe, expect, it } from 'vitest';
import { createOidcVerifier, describeAuth, looksLikeJwt, oidcSettingsFrom } from '../../../src/auth/broker-auth.js';
import { discover } from '../../../src/auth/oidc-client.js';
import { testContext } from '../../fakes/context.js';

const configured = (values: Record<string, unknown>) => ({ get: <T>(key: string) => values[key] as T | undefined });

describe('broker.oidc settings', () => {
  it('absent issuer and client id: static tokens only', () => {
    // Given no broker.oidc, Then nothing is configured and /v1/auth says token only
    expect(oidcSettingsFrom(configured({}))).toBeUndefined();
    expect(describeAuth(undefined)).toEqual({ methods: ['token'] });
  });

  it('half a configuration is exit 3, naming what is missing', () => {
    expect(() => oidcSettingsFrom(configured({ 'broker.oidc.clientId': 'byoc-cli' }))).toThrow(expect.objectContaining({ code: 'oidc_incomplete', exitCode: 3, message: 'broker.oidc needs both issuer and clientId (issuer is missing)' }));
  });

  it('the bearer is the access token with an audience, the ID token without', () => {
    const base = { 'broker.oidc.issuer': 'https://login.vendor.example/', 'broker.oidc.clientId': 'byoc-cli', 'broker.oidc.identityClaim': 'email', 'broker.oidc.scopes': ['openid', 'email'] };
    expect(describeAuth(oidcSettingsFrom(configured(base)))).toMatchObject({ oidc: { bearer: 'id_token', clientId: 'byoc-cli' } });
    expect(describeAuth(oidcSettingsFrom(configured({ ...base, 'broker.oidc.audience': 'https://api' })))).toMatchObject({ oidc: { bearer: 'access_token', audience: 'https://api' } });
  });
});

describe('which bearers are JWTs', () => {
  it.each([
    ['eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln', true],
    ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.', true],
    ['byoc_0123456789abcdefABCDEF-_', false],
    ['a.b', false],
    ['a.b.c.d', false],
  ])('%s → %s', (token, jwt) => {
    expect(looksLikeJwt(token)).toBe(jwt);
  });
});

describe('the verifier, before any key is fetched', () => {
  const verify = createOidcVerifier({ issuer: 'https://login.vendor.example/', clientId: 'byoc-cli', identityClaim: 'email', scopes: ['openid'] }, { now: () => new Date() });

  it('refuses what is not a JWT, and a token of another issuer, without fetching keys', async () => {
    // (the issuer is not reachable from here: a fetch would fail as a 5xx, not as these refusals)
    await expect(verify('not.a.jwt')).rejects.toMatchObject({ code: 'token_invalid', exitCode: 4 });
    const other = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"iss":"https://evil.example/","email":"bob@vendor.example"}').toString('base64url')}.c2ln`;
    await expect(verify(other)).rejects.toMatchObject({ code: 'token_wrong_issuer', message: 'the token was issued by "https://evil.example/"; this broker trusts tokens from https://login.vendor.example/ only' });
  });
});

describe('the CLI talks to identity providers over HTTPS', () => {
  it('refuses a plain-HTTP issuer that is not loopback (exit 3), before any request', async () => {
    const { ctx } = testContext();
    await expect(discover(ctx, 'http://login.vendor.example/', 'byoc-cli')).rejects.toMatchObject({ code: 'issuer_insecure', exitCode: 3 });
    await expect(discover(ctx, 'http://10.0.0.5:8080/', 'byoc-cli')).rejects.toMatchObject({ code: 'issuer_insecure' });
  });
});
