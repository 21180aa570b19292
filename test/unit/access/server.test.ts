import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpBrokerClient } from '../../../src/access/http-client.js';
import { createBrokerServer, listen } from '../../../src/access/server.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { openTestBroker } from '../../fakes/broker.js';
import { FakeClock } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { AccessBroker } from '../../../src/access/broker.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); })));
});

async function serve(policy = {}) {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const { broker, warnings } = await openTestBroker(stateDir, clock, policy);
  const server = createBrokerServer(broker);
  servers.push(server);
  const address = await listen(server, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${address.port}`;
  const tokens = {
    alice: await broker.createToken('alice@vendor.example'),
    bob: await broker.createToken('bob@vendor.example'),
    carol: await broker.createToken('carol@vendor.example'),
    dave: await broker.createToken('dave@vendor.example'),
  };
  const as = (who: keyof typeof tokens | undefined, token = who ? tokens[who] : undefined) => new HttpBrokerClient({ url, token });
  const raw = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) } });
  return { url, as, raw, tokens, clock, stateDir, broker, warnings };
}

const newRequest = { service: 'acme-prod', reason: 'merges stuck', duration: '2h' };

describe('served broker: authentication', () => {
  it('answers 401 (exit 4) without a token or with a wrong one', async () => {
    const { as } = await serve();
    await expect(as(undefined).list()).rejects.toMatchObject({ code: 'unauthenticated', exitCode: 4, hint: expect.stringContaining('BYOC_TOKEN') });
    await expect(as(undefined, 'byoc_not-a-real-token').list()).rejects.toMatchObject({ code: 'unauthenticated', exitCode: 4 });
  });

  it('names the Bearer scheme on every 401 (RFC 6750): invalid_token once a bearer was sent and refused', async () => {
    const { raw } = await serve();
    expect((await raw('/v1/requests')).headers.get('www-authenticate')).toBe('Bearer realm="byoc"');
    expect((await raw('/v1/requests', { token: 'byoc_not-a-real-token' })).headers.get('www-authenticate')).toBe('Bearer realm="byoc", error="invalid_token"');
  });

  it('serves the CA and health without a token', async () => {
    const { as, raw } = await serve();
    expect(await as(undefined).ca()).toContain('BEGIN CERTIFICATE');
    expect(await (await raw('/v1/health')).json()).toEqual({ ok: true });
  });

  it('takes identity from the token only: a requester field in the body is a 400', async () => {
    const { raw, tokens, as } = await serve();
    const response = await raw('/v1/requests', { method: 'POST', token: tokens.bob, body: JSON.stringify({ ...newRequest, requester: 'alice@vendor.example' }) });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toBe('body: unknown field "requester"');
    const created = await as('bob').create(newRequest);
    expect(created.requester).toBe('bob@vendor.example');
    expect(await as('carol').whoami()).toBe('carol@vendor.example');
  });

  it('stores only token hashes', async () => {
    const { tokens, stateDir } = await serve();
    const { readFileSync } = await import('node:fs');
    const log = readFileSync(`${stateDir}/broker/events.jsonl`, 'utf8');
    for (const token of Object.values(tokens)) expect(log).not.toContain(token);
    expect(log).toContain('tokenHash');
  });
});

describe('served broker: body validation', () => {
  it.each([
    ['wrong type', { ...newRequest, duration: 2 }, 'body.duration: Invalid input: expected string, received number'],
    ['unknown field', { ...newRequest, priority: 'high' }, 'body: unknown field "priority"'],
    ['bad scope', { ...newRequest, scopes: ['ssh'] }, 'body.scopes.0:'],
    ['missing reason', { service: 'acme-prod', duration: '1h' }, 'body.reason:'],
  ])('refuses a body with a %s (400, clear message)', async (_label, body, message) => {
    const { raw, tokens } = await serve();
    const response = await raw('/v1/requests', { method: 'POST', token: tokens.alice, body: JSON.stringify(body) });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toContain(message);
  });

  it('refuses malformed JSON and oversized bodies with 400', async () => {
    const { raw, tokens } = await serve();
    const malformed = await raw('/v1/requests', { method: 'POST', token: tokens.alice, body: '{"service":' });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error.code).toBe('invalid_json');
    const huge = await raw('/v1/requests', { method: 'POST', token: tokens.alice, body: JSON.stringify({ ...newRequest, reason: 'x'.repeat(70_000) }) });
    expect(huge.status).toBe(400);
    expect((await huge.json()).error.code).toBe('body_too_large');
  });
});

describe('served broker: the authorization matrix', () => {
  it('refuses each forbidden transition with 403 and a reason (exit 4)', async () => {
    const { as } = await serve({ maxDuration: '4h' });
    await expect(as('alice').create({ ...newRequest, duration: '9h' })).rejects.toMatchObject({ code: 'duration_exceeds_maximum', exitCode: 4 });
    const created = await as('alice').create(newRequest);
    await expect(as('alice').approve(created.id)).rejects.toMatchObject({ code: 'self_review', exitCode: 4 });
    // dave has no part in the request: it does not exist for him (the authorization matrix: access-roles.test.ts)
    await expect(as('dave').approve(created.id)).rejects.toMatchObject({ code: 'request_not_found', exitCode: 2 });
    await expect(as('dave').deny(created.id, 'no')).rejects.toMatchObject({ code: 'request_not_found', exitCode: 2 });
    await expect(as('alice').issueCertificate(created.id, createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'x' }]))).rejects.toMatchObject({ code: 'request_pending', exitCode: 4 });
    await expect(as('alice').operatorConfig(created.id, 'sql')).rejects.toMatchObject({ code: 'request_not_approved', exitCode: 4 });
    await as('bob').deny(created.id, 'not now');
    await expect(as('carol').approve(created.id)).rejects.toMatchObject({ code: 'request_denied', exitCode: 4 });
    await expect(as('alice').get('r-doesnotexist')).rejects.toMatchObject({ code: 'request_not_found', exitCode: 2 });
  });

  it('refuses a grant below one minute over HTTP as bad input (400, exit 2) with the minimum in the hint', async () => {
    // Given a served broker, When alice asks it directly for 30s
    const { as } = await serve();
    const refused = as('alice').create({ ...newRequest, duration: '30s' });
    // Then the refusal crosses HTTP intact: the same code, exit code and hint as in-process
    await expect(refused).rejects.toMatchObject({ code: 'duration_too_short', exitCode: 2, message: 'a grant must last at least 1m; 30s is shorter', hint: expect.stringContaining('--duration 1m or more') });
  });

  it('refuses approval of a request that lapsed', async () => {
    const { as, clock } = await serve({ pendingTtl: '10m' });
    const created = await as('alice').create(newRequest);
    clock.advance(11 * 60_000);
    await expect(as('bob').approve(created.id)).rejects.toMatchObject({ code: 'request_expired', exitCode: 4 });
  });

  it('issues a certificate over HTTP to the requester of an approved request', async () => {
    const { as } = await serve();
    const created = await as('alice').create(newRequest);
    await as('bob').approve(created.id);
    const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
    await expect(as('bob').issueCertificate(created.id, csr)).rejects.toMatchObject({ code: 'not_requester', exitCode: 4 });
    const issued = await as('alice').issueCertificate(created.id, csr);
    expect(issued).toMatchObject({ requestId: created.id, subject: `CN=alice@vendor.example, OU=urn:byoc:request:${created.id}` });
  });
});

describe('served broker: concurrency and durability', () => {
  it('never double-counts racing approvers', async () => {
    // Given a request that needs two approvals
    const { as } = await serve({ approvals: 2 });
    const created = await as('alice').create(newRequest);
    // When both approvers approve at the same moment, twice each
    const results = await Promise.allSettled([as('bob').approve(created.id), as('carol').approve(created.id), as('bob').approve(created.id), as('carol').approve(created.id)]);
    // Then exactly one approval per approver counted and the request is approved
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(2);
    const final = await as('alice').get(created.id);
    expect(final.status).toBe('approved');
    expect(final.reviews.map((review) => review.reviewer).sort()).toEqual(['bob@vendor.example', 'carol@vendor.example']);
  });

  it('lets only one of two racing approvers decide a single-approval request', async () => {
    const { as } = await serve();
    const created = await as('alice').create(newRequest);
    const results = await Promise.allSettled([as('bob').approve(created.id), as('carol').approve(created.id)]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((result) => result.status === 'rejected')).toMatchObject({ reason: { code: 'request_approved' } });
    expect((await as('alice').get(created.id)).reviews).toHaveLength(1);
  });

  it('persists 50 concurrent requests, all of them, across a restart', async () => {
    const { as, stateDir, clock } = await serve();
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => as('alice').create({ ...newRequest, reason: `incident ${i}` })));
    expect(new Set(created.map((request) => request.id)).size).toBe(50);
    const { broker: restarted } = await openTestBroker(stateDir, clock);
    const listed = await restarted.list('alice@vendor.example', { mine: true });
    expect(listed.map((request) => request.id).sort()).toEqual(created.map((request) => request.id).sort());
  });

  it('survives a torn last line on restart, keeping every earlier decision', async () => {
    const { as, stateDir, clock } = await serve();
    const created = await as('alice').create(newRequest);
    await as('bob').approve(created.id);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(`${stateDir}/broker/events.jsonl`, '{"type":"request.revoked","id":"');
    const { broker: restarted, warnings } = await openTestBroker(stateDir, clock);
    expect((await restarted.get('alice@vendor.example', created.id)).status).toBe('approved');
    expect(warnings.join()).toContain('torn last line');
    expect(restarted).toBeInstanceOf(AccessBroker);
  });
});

describe('served broker: waiting for a decision (GET /v1/requests/ID?wait=S)', () => {
  it('holds a pending request until an approver decides, then answers at once with the decision', async () => {
    // Given alice's pending request
    const { as, raw, tokens } = await serve();
    const request = await as('alice').create(newRequest);
    // When she waits for it and bob approves 300 ms later
    const started = performance.now();
    const waiting = raw(`/v1/requests/${request.id}?wait=10`, { token: tokens.alice });
    setTimeout(() => void as('bob').approve(request.id), 300);
    const answer = await waiting;
    // Then her wait ends with the approval, long before the 10 s she allowed
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ id: request.id, status: 'approved' });
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('answers at once for a decided request, and after the wait with it still pending', async () => {
    const { as, tokens, raw } = await serve();
    const request = await as('alice').create(newRequest);
    const started = performance.now();
    expect(await (await raw(`/v1/requests/${request.id}?wait=1`, { token: tokens.alice })).json()).toMatchObject({ status: 'pending' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    await as('bob').deny(request.id, 'not now');
    expect(await (await raw(`/v1/requests/${request.id}?wait=20`, { token: tokens.alice })).json()).toMatchObject({ status: 'denied' });
  });

  it('refuses a wait that is not whole seconds (400), and answers held waits when the server stops', async () => {
    const { as, tokens, raw } = await serve();
    const request = await as('alice').create(newRequest);
    expect((await raw(`/v1/requests/${request.id}?wait=soon`, { token: tokens.alice })).status).toBe(400);
    const started = performance.now();
    const waiting = raw(`/v1/requests/${request.id}?wait=20`, { token: tokens.alice });
    const { stopLongPolls } = await import('../../../src/access/server.js');
    setTimeout(() => stopLongPolls(servers.at(-1)!), 200);
    expect(await (await waiting).json()).toMatchObject({ status: 'pending' });
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('a waiting requester (byoc access wait through the client) hears of the approval when it happens', async () => {
    const { as } = await serve();
    const alice = as('alice');
    const request = await alice.create(newRequest);
    setTimeout(() => void as('bob').approve(request.id), 300);
    const started = performance.now();
    expect(await alice.awaitChange(request.id, 10)).toMatchObject({ status: 'approved' });
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
