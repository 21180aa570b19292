import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerDir, hashToken, TOKEN_USAGE_PERSIST_MS } from '../../../src/access/broker.js';
import { writeEventLog } from '../../../src/access/store.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { MovableClock } from './served-broker.js';
import { openTeamBroker, ROLES, serveTeamBroker } from './team-broker.js';

const DAY = 86_400_000;

describe('tokens created before #16', () => {
  it('keep working, with a stable id from their hash, and can be listed and revoked', async () => {
    // Given a log of 0.1 whose token event has no id, expiry or groups
    const stateDir = tempDir();
    const secret = 'byoc_an-old-token-handed-out-last-year';
    const hash = hashToken(secret);
    await writeEventLog(brokerDir(stateDir), [{ type: 'token.created', at: '2025-11-01T00:00:00.000Z', user: ROLES.requester, tokenHash: hash }]);
    const clock = new MovableClock(new Date());
    // When a broker opens it (twice: the id must not change between processes)
    const first = await openTeamBroker(stateDir, clock, { hold: false });
    const second = await openTeamBroker(stateDir, clock, { hold: false });
    // Then the token authenticates, never expires, and has the same id derived from its hash prefix in both
    expect(await first.authenticateToken(secret)).toEqual({ identity: ROLES.requester, groups: [], via: 'token', tokenId: `t-${hash.slice(0, 15)}` });
    const [listed] = await second.listTokens();
    expect(listed).toEqual({ id: `t-${hash.slice(0, 15)}`, identity: ROLES.requester, groups: [], createdAt: '2025-11-01T00:00:00.000Z', state: 'active' });
    // When it is revoked by that id
    await second.revokeToken('ops@vendor.example', listed!.id);
    // Then every process refuses it, saying it was revoked
    const third = await openTeamBroker(stateDir, clock, { hold: false });
    expect(await third.authenticateToken(secret)).toMatchObject({ reason: 'revoked', token: { id: listed!.id, revokedBy: 'ops@vendor.example' } });
  });
});

describe('token expiry and revocation, from outside (raw HTTP)', () => {
  it('refuses an expired token 401, naming the token, when it expired and what to do', async () => {
    // Given a token valid for one day
    const { broker, raw, clock } = await serveTeamBroker();
    const issued = await broker.issueToken(ROLES.admin, { identity: 'carol@vendor.example', ttl: '1d' });
    expect((await raw('GET', '/v1/whoami', { token: issued.token })).body).toEqual({ identity: 'carol@vendor.example', groups: [], via: 'token', tokenId: issued.id });
    // When a day has passed
    clock.advance(DAY);
    const response = await raw('GET', '/v1/requests', { token: issued.token });
    // Then it is refused, and the refusal says which token, since when, and how to get a new one
    expect(response.status).toBe(401);
    expect(response.body.error).toMatchObject({
      code: 'token_expired',
      message: `the bearer token ${issued.id} (carol@vendor.example) expired at ${issued.expiresAt}`,
      hint: expect.stringContaining('byoc broker token create carol@vendor.example'),
      kind: 'not-allowed',
    });
  });

  it('refuses a revoked token 401 at once, saying who revoked it', async () => {
    const { raw, as, tokens } = await serveTeamBroker();
    // Given the requester's token works
    expect((await raw('GET', '/v1/requests', { token: tokens.requester })).status).toBe(200);
    const id = (await as('admin').get('/v1/tokens')).body.tokens.find((token: { identity: string }) => token.identity === ROLES.requester).id;
    // When an admin revokes it through the API
    const revoked = await as('admin').post(`/v1/tokens/${id}/revoke`);
    expect(revoked).toMatchObject({ status: 200, body: { id, state: 'revoked', revokedBy: ROLES.admin } });
    // Then the very next call with it is refused, naming the revocation
    const response = await raw('GET', '/v1/requests', { token: tokens.requester });
    expect(response.status).toBe(401);
    expect(response.body.error).toMatchObject({ code: 'token_revoked', message: expect.stringContaining(`was revoked at ${revoked.body.revokedAt} by ${ROLES.admin}`) });
  });
});

describe('token administration through the served API', () => {
  it('is for broker.admins: create, list (no secret, no hash) and revoke; anybody else 403 with a hint', async () => {
    const { as, raw, tokens } = await serveTeamBroker();
    // When the admin creates a token with a ttl and a group
    const created = await as('admin').post('/v1/tokens', { identity: 'frank@vendor.example', ttl: '8h', groups: ['auditors'] });
    // Then it is 201 with the secret, once; and it works at once, carrying its group
    expect(created).toMatchObject({ status: 201, body: { identity: 'frank@vendor.example', groups: ['auditors'], createdBy: ROLES.admin, state: 'active', token: expect.stringMatching(/^byoc_/) } });
    expect((await raw('GET', '/v1/whoami', { token: created.body.token })).body).toMatchObject({ identity: 'frank@vendor.example', groups: ['auditors'] });
    // And the list has every token, without any secret or hash
    const listed = await as('admin').get('/v1/tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.tokens).toHaveLength(Object.keys(ROLES).length + 1);
    const text = JSON.stringify(listed.body);
    for (const secret of [...Object.values(tokens), created.body.token]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hashToken(secret));
    }
    for (const token of listed.body.tokens) expect(Object.keys(token).sort()).toEqual(expect.arrayContaining(['createdAt', 'groups', 'id', 'identity', 'state']));
    // And a bad ttl is a 400 saying what is accepted
    expect((await as('admin').post('/v1/tokens', { identity: 'x', ttl: '400d' })).body.error).toMatchObject({ code: 'invalid_ttl', message: expect.stringContaining('365d') });
    // When anybody else tries any of it (an auditor included)
    for (const role of ['requester', 'approver', 'auditor', 'stranger'] as const) {
      for (const response of [await as(role).get('/v1/tokens'), await as(role).post('/v1/tokens', { identity: 'x' }), await as(role).post(`/v1/tokens/${created.body.id}/revoke`)]) {
        // Then 403, naming the setting that would allow it
        expect(response.status).toBe(403);
        expect(response.body.error).toMatchObject({ code: 'not_an_admin', hint: expect.stringContaining('broker.admins'), kind: 'not-allowed' });
      }
    }
    // And the token a non-admin tried to revoke still works
    expect((await raw('GET', '/v1/whoami', { token: created.body.token })).status).toBe(200);
  });

  it('byoc broker token create, list and revoke work through the served broker with broker.url (and embedded writes are refused while it serves)', async () => {
    const { url, tokens, stateDir } = await serveTeamBroker();
    const served = (argv: string[], token: string) => runCli(argv, { cwd: tempDir(), env: { BYOC_BROKER_URL: url, BYOC_TOKEN: token, BYOC_STATE_DIR: tempDir() } });
    // When the admin creates a token through the API
    const created = await served(['broker', 'token', 'create', 'grace@vendor.example', '--ttl', '7d', '--json'], tokens.admin);
    expect(created.exitCode).toBe(0);
    const document = JSON.parse(created.stdout);
    expect(document).toMatchObject({ identity: 'grace@vendor.example', user: 'grace@vendor.example', createdBy: ROLES.admin, token: expect.stringMatching(/^byoc_/) });
    // Then list shows it and revoke revokes it
    const listed = await served(['broker', 'token', 'list'], tokens.admin);
    expect(listed.stdout).toMatch(new RegExp(`^${document.id}\\tgrace@vendor\\.example\\t-\\t`, 'm'));
    const revoked = await served(['broker', 'token', 'revoke', document.id], tokens.admin);
    expect(revoked).toMatchObject({ exitCode: 0, stdout: `revoked ${document.id} (grace@vendor.example); the broker refuses it from now on\n` });
    // And a non-admin is refused with exit 4 and the hint
    const refused = await served(['broker', 'token', 'list'], tokens.approver);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toContain('broker.admins');
    // And on the broker's machine, without broker.url, a write is refused while it serves (exit 3), a read is not
    const local = (argv: string[]) => runCli(argv, { cwd: tempDir(), env: { BYOC_STATE_DIR: stateDir } });
    expect((await local(['broker', 'token', 'create', 'x'])).exitCode).toBe(3);
    const read = await local(['broker', 'token', 'list', '--json']);
    expect(read.exitCode).toBe(0);
    expect(JSON.parse(read.stdout).tokens.find((token: { id: string }) => token.id === document.id)).toMatchObject({ state: 'revoked' });
  });
});

describe('last used', () => {
  it('is exact in the served broker, reaches disk at most once a minute (never the event log), and survives a restart', async () => {
    const { broker, raw, as, tokens, clock, stateDir } = await serveTeamBroker();
    const usage = path.join(brokerDir(stateDir), 'tokens-used.json');
    const log = path.join(brokerDir(stateDir), 'events.jsonl');
    const logSize = statSync(log).size;
    const lastUsed = async () => (await as('admin').get('/v1/tokens')).body.tokens.find((token: { identity: string }) => token.identity === ROLES.requester).lastUsedAt;
    const onDisk = () => (existsSync(usage) ? Object.values(JSON.parse(readFileSync(usage, 'utf8')) as Record<string, string>) : []);
    const settled = () => new Promise((resolve) => setTimeout(resolve, 100));
    const call = async () => {
      await raw('GET', '/v1/whoami', { token: tokens.requester });
      return clock.now().toISOString();
    };
    // Given the requester's first call: the file is written (nothing was there)
    const first = await call();
    await settled();
    expect(await lastUsed()).toBe(first);
    expect(onDisk()).toContain(first);
    // When calls follow within the minute
    clock.advance(10_000);
    const second = await call();
    await settled();
    // Then the API shows the exact last use, the file still the first (no write per request), the log no line at all
    expect(await lastUsed()).toBe(second);
    expect(onDisk()).not.toContain(second);
    // When a minute has passed since the last write
    clock.advance(TOKEN_USAGE_PERSIST_MS);
    const third = await call();
    await settled();
    // Then the file has it
    expect(onDisk()).toContain(third);
    // When one more call comes and the broker stops
    clock.advance(5_000);
    const fourth = await call();
    await broker.close();
    // Then the file has the last one, and a broker opened afterwards lists it; the event log never grew
    expect(onDisk()).toContain(fourth);
    const reopened = await openTeamBroker(stateDir, clock, { hold: false });
    expect((await reopened.listTokens()).find((token) => token.identity === ROLES.requester)?.lastUsedAt).toBe(fourth);
    expect(statSync(log).size).toBe(logSize);
  });
});

describe('the JWT seam', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

  it('without an identity provider, a JWT is refused 401, saying the broker takes none', async () => {
    const { raw } = await serveTeamBroker();
    expect((await raw('GET', '/v1/whoami', { token: jwt })).body.error).toMatchObject({ code: 'oidc_not_configured' });
  });

  it('with one, only a JWT goes to it; a static token still goes to the broker; a refusal without a reason is 401', async () => {
    const seen: string[] = [];
    const { raw, tokens } = await serveTeamBroker({
      verifyBearer: async (token) => {
        seen.push(token);
        return undefined;
      },
    });
    expect((await raw('GET', '/v1/whoami', { token: tokens.requester })).body).toMatchObject({ identity: ROLES.requester, via: 'token' });
    const refused = await raw('GET', '/v1/whoami', { token: jwt });
    expect(refused).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated', hint: expect.stringContaining('byoc login') } } });
    expect(seen).toEqual([jwt]);
  });
});
