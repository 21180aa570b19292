import { describe, expect, it } from 'vitest';
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS, FailureLimiter, sourceAddress } from '../../../src/access/rate-limit.js';
import { serveTeamBroker } from './team-broker.js';

const OTHER = '127.0.0.2';

describe('failed authentication is rate-limited per source address (raw HTTP)', () => {
  it('answers 429 with Retry-After after a burst of wrong tokens, for that address only, and recovers after the window', async () => {
    // Given a served broker and an address that sends wrong tokens
    const { raw, tokens, clock } = await serveTeamBroker();
    const wrong = (index: number) => raw('GET', '/v1/requests', { token: `byoc_wrong-${index}` });
    // When it sends the limit's worth: each is a plain 401
    for (let index = 0; index < AUTH_FAILURE_LIMIT; index++) expect((await wrong(index)).status).toBe(401);
    // Then the next is 429 with Retry-After in seconds (the whole window: no time passed), without looking at the token
    const blocked = await wrong(AUTH_FAILURE_LIMIT);
    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toBe(String(AUTH_FAILURE_WINDOW_MS / 1000));
    expect(blocked.body.error).toMatchObject({ code: 'too_many_failures', message: expect.stringContaining('127.0.0.1'), hint: expect.stringContaining('retry after 60 s'), kind: 'not-allowed' });
    // And a right token from the same address is refused too while the block lasts (documented: checking it would
    // tell a guesser which guess was right)
    const right = await raw('GET', '/v1/requests', { token: tokens.requester });
    expect(right.status).toBe(429);
    // And the public routes stay open to it
    expect((await raw('GET', '/v1/health')).status).toBe(200);
    expect((await raw('GET', '/v1/ca')).status).toBe(200);
    expect((await raw('GET', '/v1/crl')).status).toBe(200);
    // And another address is unaffected, its right token accepted and its wrong one a plain 401
    expect((await raw('GET', '/v1/requests', { token: tokens.approver, localAddress: OTHER })).status).toBe(200);
    expect((await raw('GET', '/v1/requests', { token: 'byoc_wrong', localAddress: OTHER })).status).toBe(401);
    // When 40 s pass, Retry-After counts down
    clock.advance(40_000);
    expect((await wrong(99)).headers['retry-after']).toBe('20');
    // When the window has passed
    clock.advance(20_000);
    // Then the address is served again: the right token works, and a wrong one is a 401 again
    expect((await raw('GET', '/v1/requests', { token: tokens.requester })).status).toBe(200);
    expect((await wrong(100)).status).toBe(401);
  });

  it('does not count requests that carry no token, and counts expired and revoked tokens like wrong ones', async () => {
    const { raw, broker, clock } = await serveTeamBroker({ rateLimit: { limit: 3 } });
    // Given a client that forgot its token: it is told so, every time, never blocked
    for (let index = 0; index < 5; index++) expect((await raw('GET', '/v1/requests')).status).toBe(401);
    // When a revoked and an expired token are tried
    const revoked = await broker.issueToken(undefined, { identity: 'x' });
    await broker.revokeToken(undefined, revoked.id);
    const expired = await broker.issueToken(undefined, { identity: 'y', ttl: '1m' });
    clock.advance(60_000);
    expect((await raw('GET', '/v1/requests', { token: revoked.token })).status).toBe(401);
    expect((await raw('GET', '/v1/requests', { token: expired.token })).status).toBe(401);
    expect((await raw('GET', '/v1/requests', { token: 'byoc_wrong' })).status).toBe(401);
    // Then the third failure reached the limit
    expect((await raw('GET', '/v1/requests', { token: 'byoc_wrong' })).status).toBe(429);
  });

  it('counts a refused identity-provider token (JWT) against the address too', async () => {
    const { NotAllowedError } = await import('../../../src/errors.js');
    const { raw } = await serveTeamBroker({
      rateLimit: { limit: 2 },
      verifyBearer: async () => {
        throw new NotAllowedError('token_audience', 'the token is for another audience', { hint: 'run byoc login' });
      },
    });
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    const first = await raw('GET', '/v1/requests', { token: jwt });
    expect(first).toMatchObject({ status: 401, body: { error: { code: 'token_audience', hint: 'run byoc login' } } });
    expect((await raw('GET', '/v1/requests', { token: jwt })).status).toBe(401);
    expect((await raw('GET', '/v1/requests', { token: jwt })).status).toBe(429);
  });
});

describe('the failure table', () => {
  it('stays bounded: beyond its size the address whose last failure is oldest is dropped', () => {
    // Given a table of 3 addresses and a limit of 2
    let now = 0;
    const limiter = new FailureLimiter({ now: () => now, limit: 2, tableSize: 3 });
    limiter.fail('10.0.0.1');
    limiter.fail('10.0.0.1');
    expect(limiter.retryAfter('10.0.0.1')).toBe(60);
    // When three more addresses fail
    for (const address of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) {
      now += 1;
      limiter.fail(address);
    }
    // Then the table holds 3, and the oldest (the blocked one) was dropped
    expect(limiter.size).toBe(3);
    expect(limiter.retryAfter('10.0.0.1')).toBeUndefined();
    // And many more addresses never grow it
    for (let index = 0; index < 1000; index++) limiter.fail(`10.1.${index >> 8}.${index & 255}`);
    expect(limiter.size).toBe(3);
  });

  it('counts failures in a window from the first one: spread-out failures never block', () => {
    let now = 0;
    const limiter = new FailureLimiter({ now: () => now, limit: 3, windowMs: 60_000 });
    for (let index = 0; index < 10; index++) {
      limiter.fail('10.0.0.1');
      limiter.fail('10.0.0.1');
      now += 60_000;
      expect(limiter.retryAfter('10.0.0.1')).toBeUndefined();
    }
  });

  it('reads an IPv4 address mapped into IPv6 as IPv4, so both forms count as one', () => {
    expect(sourceAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(sourceAddress(undefined)).toBe('unknown');
  });
});
