/**
 * The served broker's check of identity-provider tokens, proven from outside byoc: a real OpenID provider
 * (oidc-provider) issues the tokens, and raw HTTP calls present them to a broker served on loopback.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { serveOidcBroker } from '../support/oidc-broker.js';
import { startTestProvider, tokensFor, type TestProvider, type TestProviderOptions } from '../support/oidc-provider.js';

const AUDIENCE = 'https://broker.vendor.example';
const providers: TestProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});

async function provider(options: TestProviderOptions = {}) {
  const started = await startTestProvider({ accounts: { alice: { email: 'alice@vendor.example', groups: ['oncall'] }, nomail: { groups: [] } }, ...options });
  providers.push(started);
  return started;
}

/** A broker that takes access tokens for AUDIENCE from `idp`. */
async function accessTokenBroker(idp: TestProvider) {
  return serveOidcBroker({ oidc: { issuer: idp.issuer, clientId: idp.clientId, audience: AUDIENCE, groupsClaim: 'groups', scopes: ['openid', 'email', 'groups', 'offline_access'] } });
}

async function refusal(response: Response) {
  return { status: response.status, error: ((await response.json()) as { error: { code: string; message: string; hint?: string } }).error };
}

describe('served broker with broker.oidc: GET /v1/auth', () => {
  it('publishes the issuer, client, scopes, bearer and flows without a token', async () => {
    // Given a broker configured for an identity provider with an API audience
    const idp = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    // When anyone asks how to sign in
    const response = await raw('/v1/auth');
    // Then the answer is everything byoc login needs, and no secret
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      methods: ['token', 'oidc'],
      oidc: {
        issuer: idp.issuer,
        clientId: 'byoc-cli',
        audience: AUDIENCE,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
        identityClaim: 'email',
        groupsClaim: 'groups',
        bearer: 'access_token',
        flows: ['authorization_code', 'device_code'],
      },
    });
  });

  it('says static tokens only on a broker without broker.oidc, and refuses any JWT there (401)', async () => {
    const idp = await provider();
    const { raw } = await serveOidcBroker({});
    expect(await (await raw('/v1/auth')).json()).toEqual({ methods: ['token'] });
    const { idToken } = await tokensFor(idp, 'alice');
    expect(await refusal(await raw('/v1/whoami', { token: idToken }))).toMatchObject({ status: 401, error: { code: 'oidc_not_configured' } });
  });
});

describe('served broker with broker.oidc: which tokens it takes', () => {
  it('takes an access token issued for its audience: the identity is the email claim', async () => {
    // Given alice signed in at the provider the broker trusts
    const idp = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(idp, 'alice');
    // When she calls the broker with her access token
    const response = await raw('/v1/whoami', { token: accessToken });
    // Then she is alice@vendor.example, and a request she creates is hers
    expect(await response.json()).toEqual({ identity: 'alice@vendor.example', groups: ['oncall'], via: 'oidc' });
    const created = await raw('/v1/requests', { method: 'POST', token: accessToken, body: { service: 'acme-prod', reason: 'disk full', duration: '1h' } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ requester: 'alice@vendor.example' });
  });

  it('refuses an ID token where access tokens for its audience are expected (wrong audience, 401)', async () => {
    const idp = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    const { idToken } = await tokensFor(idp, 'alice');
    const { status, error } = await refusal(await raw('/v1/whoami', { token: idToken }));
    expect(status).toBe(401);
    expect(error.code).toBe('token_wrong_audience');
    expect(error.message).toBe(`the token is for "byoc-cli", not for this broker (${AUDIENCE})`);
    expect(error.hint).toContain('byoc login');
  });

  it('refuses an access token the same provider issued for another API (wrong audience, 401)', async () => {
    const idp = await provider({ audience: 'https://another-api.vendor.example' });
    const { raw } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(idp, 'alice');
    expect(decodeJwt(accessToken).aud).toBe('https://another-api.vendor.example');
    expect(await refusal(await raw('/v1/whoami', { token: accessToken }))).toMatchObject({ status: 401, error: { code: 'token_wrong_audience' } });
  });

  it('refuses a token from another issuer (401), even one for the same audience and client id', async () => {
    // Given a second provider with the same client id and audience, whose users could name anyone
    const idp = await provider({ audience: AUDIENCE });
    const other = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(other, 'alice');
    // When its token is presented to the broker
    const { status, error } = await refusal(await raw('/v1/whoami', { token: accessToken }));
    // Then it is refused, naming both issuers
    expect(status).toBe(401);
    expect(error.code).toBe('token_wrong_issuer');
    expect(error.message).toBe(`the token was issued by "${other.issuer}"; this broker trusts tokens from ${idp.issuer} only`);
  });

  it('refuses an expired token (401) once its exp has passed on the broker clock', async () => {
    const idp = await provider({ audience: AUDIENCE, accessTokenTtl: 300 });
    const { raw, clock } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(idp, 'alice');
    expect((await raw('/v1/whoami', { token: accessToken })).status).toBe(200);
    // When six minutes pass (the token lived five; the broker tolerates 30 s of clock difference)
    clock.advance(6 * 60_000);
    const { status, error } = await refusal(await raw('/v1/whoami', { token: accessToken }));
    expect(status).toBe(401);
    expect(error.code).toBe('token_expired');
    expect(error.hint).toBe('Sign in again: byoc login');
  });

  it('refuses forged tokens (401): a changed claim, an unsigned JWT, one signed with a key of our own', async () => {
    const idp = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(idp, 'alice');
    // alice's real token with its payload changed to say bob (the signature kept)
    const [header, payload, signature] = accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, email: 'bob@vendor.example' })).toString('base64url')}.${signature}`;
    // alg "none", the same claims
    const unsigned = new UnsecuredJWT({ ...claims, email: 'bob@vendor.example' }).encode();
    // signed by a key the attacker made, with the provider's kid
    const key = createPrivateKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid: string };
    const selfSigned = await new SignJWT({ ...claims, email: 'bob@vendor.example' }).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
    for (const forged of [tampered, unsigned, selfSigned]) {
      const { status, error } = await refusal(await raw('/v1/whoami', { token: forged }));
      expect(status).toBe(401);
      expect(error.code).toBe('token_invalid');
    }
    // and none of them could act: nothing was created as bob
    expect((await raw('/v1/requests', { method: 'POST', token: tampered, body: { service: 'acme-prod', reason: 'x', duration: '1h' } })).status).toBe(401);
  });

  it('refuses a token without the identity claim (401), saying which claim and what to do', async () => {
    const idp = await provider({ audience: AUDIENCE });
    const { raw } = await accessTokenBroker(idp);
    const { accessToken } = await tokensFor(idp, 'nomail');
    const { status, error } = await refusal(await raw('/v1/whoami', { token: accessToken }));
    expect(status).toBe(401);
    expect(error.code).toBe('identity_claim_missing');
    expect(error.message).toBe('the token carries no email claim, which this broker takes as your identity (broker.oidc.identityClaim)');
    expect(error.hint).toContain('release the email claim to client byoc-cli');
  });

  it('without an audience, takes the ID token (audience: the client id) and refuses the opaque access token', async () => {
    const idp = await provider();
    const { raw } = await serveOidcBroker({ oidc: { issuer: idp.issuer, clientId: idp.clientId } });
    const { idToken, accessToken } = await tokensFor(idp, 'alice');
    expect(await (await raw('/v1/whoami', { token: idToken })).json()).toEqual({ identity: 'alice@vendor.example', groups: [], via: 'oidc' });
    expect((await raw('/v1/whoami', { token: accessToken })).status).toBe(401);
  });

  it('a provider out of reach is the broker\'s failure (502 identity_provider_unreachable), never a 401 nor a pass', async () => {
    // Given a token from a provider that then goes away before the broker ever fetched its keys
    const idp = await provider({ audience: AUDIENCE });
    const { accessToken } = await tokensFor(idp, 'alice');
    const { raw } = await accessTokenBroker(idp);
    await idp.close();
    providers.splice(providers.indexOf(idp), 1);
    // When the token is presented
    const { status, error } = await refusal(await raw('/v1/whoami', { token: accessToken }));
    // Then the broker says it cannot check it
    expect(status).toBe(502);
    expect(error.code).toBe('identity_provider_unreachable');
  });
});


describe('served broker with broker.oidc: who sees what, by the identity and groups in the provider\'s tokens', () => {
  it('the requester, the approver and the auditors group see a request; another engineer gets 404 as for no request', async () => {
    // Given a provider with a requester, the service's approver, an auditor (group auditors) and another engineer
    const idp = await startTestProvider({
      audience: AUDIENCE,
      accounts: {
        alice: { email: 'alice@vendor.example', groups: ['oncall'] },
        bob: { email: 'bob@vendor.example', groups: ['oncall'] },
        carol: { email: 'carol@vendor.example', groups: ['auditors'] },
        dave: { email: 'dave@vendor.example', groups: ['oncall'] },
      },
    });
    providers.push(idp);
    const { raw } = await accessTokenBroker(idp);
    const token = async (login: string) => (await tokensFor(idp, login)).accessToken;
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map(token));
    // and alice's request
    const created = (await (await raw('/v1/requests', { method: 'POST', token: alice!, body: { service: 'acme-prod', reason: 'card data in a slow query', duration: '1h' } })).json()) as { id: string };
    const seen = async (who: string) => {
      const listed = (await (await raw('/v1/requests', { token: who })).json()) as { requests: { id: string }[] };
      return { listed: listed.requests.map((request) => request.id), shown: (await raw(`/v1/requests/${created.id}`, { token: who })).status };
    };
    // When each of them lists the requests and asks for hers by id
    // Then alice, bob (approver of acme-prod) and carol (auditors) see it; dave sees nothing of it
    expect(await seen(alice!)).toEqual({ listed: [created.id], shown: 200 });
    expect(await seen(bob!)).toEqual({ listed: [created.id], shown: 200 });
    expect(await seen(carol!)).toEqual({ listed: [created.id], shown: 200 });
    expect(await seen(dave!)).toEqual({ listed: [], shown: 404 });
    // and dave's 404 is the one a request that does not exist gets, word for word but the id
    const missing = await (await raw('/v1/requests/r-doesnotexist', { token: dave! })).json();
    const hidden = await (await raw(`/v1/requests/${created.id}`, { token: dave! })).json();
    expect(JSON.stringify(hidden).replaceAll(created.id, 'ID')).toBe(JSON.stringify(missing).replaceAll('r-doesnotexist', 'ID'));
    // and an auditor who is not an approver still cannot approve
    expect((await raw(`/v1/requests/${created.id}/approve`, { method: 'POST', token: carol!, body: {} })).status).toBe(403);
  });
});
