import { describe, expect, it } from 'vitest';
import { watchGrant } from '../../../src/access/grant-watch.js';
import { RemoteError } from '../../../src/errors.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const MINUTE = 60_000;

function setup(options: { leftMs: number; status?: () => AccessRequest['status'] | Error }) {
  const clock = new ManualClock();
  const warnings: string[] = [];
  const unreachable: string[] = [];
  let asked = 0;
  const controller = new AbortController();
  const watch = watchGrant({
    service: 'acme-prod',
    requestId: 'r-1',
    endsAt: clock.now().getTime() + options.leftMs,
    clock,
    broker: async () => ({
      location: 'embedded (/tmp/broker)',
      get: async () => {
        asked++;
        const status = options.status?.() ?? 'approved';
        if (status instanceof Error) throw status;
        return { id: 'r-1', status, revokedBy: 'carol@vendor.example', revokedAt: '2026-11-21T10:20:00.000Z' } as AccessRequest;
      },
    }),
    onWarning: (message) => warnings.push(message),
    onUnreachable: (message) => unreachable.push(message),
    signal: controller.signal,
    pollMs: 15_000,
  });
  return { clock, watch, warnings, unreachable, asked: () => asked, controller };
}

describe('watchGrant', () => {
  it('warns at 10 and 2 minutes before the end, then ends the session at the end', async () => {
    // Given a grant with 30 minutes left and a broker that keeps approving it
    const { clock, watch, warnings } = setup({ leftMs: 30 * MINUTE });
    let ended: unknown = 'not yet';
    void watch.ended.then((value) => (ended = value));
    // When time passes to 10 minutes before the end
    await clock.advance(20 * MINUTE - 1);
    expect(warnings).toEqual([]);
    await clock.advance(1);
    // Then the first warning names the service, the request and the time left
    expect(warnings).toEqual(['your access to acme-prod (r-1) ends in 10m; request more time with: byoc access request acme-prod --reason "..."']);
    await clock.advance(8 * MINUTE);
    expect(warnings[1]).toContain('ends in 2m');
    expect(ended).toBe('not yet');
    expect(watch.remainingMs()).toBe(2 * MINUTE);
    // And at the end the session is told why it must stop
    await clock.advance(2 * MINUTE);
    expect(ended).toMatchObject({ code: 'grant_ended', exitCode: 4 });
    expect((ended as Error).message).toBe('your access to acme-prod (r-1) ended at 2026-11-21T10:30:00.000Z');
    expect(warnings).toHaveLength(2);
  });

  it('warns at once when the session starts inside the last 10 minutes', async () => {
    const { warnings, watch } = setup({ leftMs: 5 * MINUTE });
    expect(warnings).toEqual([expect.stringContaining('ends in 5m')]);
    watch.stop();
    expect(await watch.ended).toBeUndefined();
  });

  it('ends the session when the broker says the request was revoked', async () => {
    // Given a grant the broker approves at first and then reports revoked
    let status: AccessRequest['status'] = 'approved';
    const { clock, watch, asked } = setup({ leftMs: 60 * MINUTE, status: () => status });
    await clock.advance(15_000);
    expect(asked()).toBe(1);
    status = 'revoked';
    // When the next poll comes
    await clock.advance(15_000);
    // Then the session ends with the revocation, who did it and when
    const ended = await watch.ended;
    expect(ended).toMatchObject({ code: 'access_revoked' });
    expect(ended!.message).toContain('revoked by carol@vendor.example at 2026-11-21T10:20:00.000Z');
  });

  it('goes on, saying so once, while the broker cannot be asked', async () => {
    let answer: AccessRequest['status'] | Error = new RemoteError('broker_unreachable', 'connect ECONNREFUSED 127.0.0.1:8787');
    const { clock, watch, unreachable } = setup({ leftMs: 60 * MINUTE, status: () => answer });
    await clock.advance(15_000);
    await clock.advance(15_000);
    expect(unreachable).toEqual(['cannot ask the broker whether r-1 still stands: connect ECONNREFUSED 127.0.0.1:8787; going on until it answers']);
    answer = 'expired';
    await clock.advance(15_000);
    expect(await watch.ended).toMatchObject({ code: 'access_expired' });
  });

  it('stops quietly when the session is aborted', async () => {
    const { watch, controller } = setup({ leftMs: 60 * MINUTE });
    controller.abort(new DOMException('interrupted', 'AbortError'));
    expect(await watch.ended).toBeUndefined();
  });
});
