import { describe, expect, it } from 'vitest';
import { DeliveryQueue, type AttemptResult, type QueueOptions } from '../../../src/notify/queue.js';
import { FakeClock } from '../../fakes/context.js';
import { GatedClock } from './receiver.js';

function logged() {
  const lines: string[] = [];
  return { lines, log: { verbose: (message: string) => lines.push(`verbose: ${message}`), warn: (message: string) => lines.push(`warn: ${message}`) } };
}

function queueWith(clock: FakeClock, options: Partial<QueueOptions> = {}) {
  const { lines, log } = logged();
  const queue = new DeliveryQueue({ sleep: clock.sleep, now: () => clock.now().getTime(), log, random: () => 0.5, ...options });
  return { queue, lines };
}

/** A delivery whose attempts answer in turn from `answers` (the last one repeats). */
function scripted(label: string, answers: AttemptResult[]) {
  let attempts = 0;
  return { delivery: { label, attempt: async () => answers[Math.min(attempts++, answers.length - 1)]! }, attempts: () => attempts };
}

/** Until every delivery is done (the fake clock's sleeps end at once; drain's own timeout would move it too). */
async function idle(queue: DeliveryQueue): Promise<void> {
  while (queue.size > 0) await new Promise((resolve) => setTimeout(resolve, 1));
}

const fail = (problem = 'HTTP 503'): AttemptResult => ({ ok: false, retry: true, problem });
const ok: AttemptResult = { ok: true, detail: 'HTTP 204' };

describe('the delivery queue', () => {
  it('logs a success at verbose level, with its attempt number', async () => {
    const clock = new FakeClock();
    const { queue, lines } = queueWith(clock);
    const { delivery } = scripted('created r-1 to hook', [fail(), ok]);
    queue.enqueue(delivery);
    await idle(queue);
    expect(lines).toEqual([
      'warn: notify: delivering created r-1 to hook failed (attempt 1 of 6: HTTP 503); retrying in 0.8s',
      'verbose: notify: delivered created r-1 to hook (attempt 2: HTTP 204)',
    ]);
  });

  it('does not retry a delivery the receiver refused (a 4xx other than 408 and 429)', async () => {
    const clock = new FakeClock();
    const { queue, lines } = queueWith(clock);
    const { delivery, attempts } = scripted('created r-1 to hook', [{ ok: false, retry: false, problem: 'HTTP 401 bad signature' }]);
    queue.enqueue(delivery);
    await idle(queue);
    expect(attempts()).toBe(1);
    expect(lines).toEqual(['warn: notify: gave up delivering created r-1 to hook (not retried: the receiver refused it): HTTP 401 bad signature']);
  });

  it('caps the backoff at maxDelayMs', async () => {
    const clock = new GatedClock();
    const { queue } = queueWith(clock, { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 5000, random: () => 1 });
    queue.enqueue(scripted('x', [fail()]).delivery);
    const waits: number[] = [];
    for (let index = 0; index < 9; index++) {
      waits.push(await clock.nextSleep());
      clock.wake();
    }
    expect(waits).toEqual([1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000, 5000]);
    await queue.close();
  });

  it('waits at least what a Retry-After asked (up to 5 minutes), else the backoff', async () => {
    // Given a receiver answering 429 with Retry-After 30 s, then 10 hours, then 1 s
    const clock = new GatedClock();
    const { queue } = queueWith(clock, { baseDelayMs: 1000, maxDelayMs: 5000, random: () => 1 });
    const busy = (retryAfterMs: number): AttemptResult => ({ ok: false, retry: true, problem: 'HTTP 429', retryAfterMs });
    queue.enqueue(scripted('x', [busy(30_000), busy(36_000_000), busy(1000), ok]).delivery);
    // When it is retried
    const waits: number[] = [];
    for (let index = 0; index < 3; index++) {
      waits.push(await clock.nextSleep());
      clock.wake();
    }
    // Then the first wait is the 30 s asked, the absurd one falls back to the backoff, a short one to the backoff too
    expect(waits).toEqual([30_000, 2000, 4000]);
    await queue.close();
  });

  it('bounds what waits: beyond maxQueued a delivery is dropped with a warning', async () => {
    const clock = new GatedClock();
    const { queue, lines } = queueWith(clock, { maxQueued: 2 });
    // Given two deliveries stuck retrying
    expect(queue.enqueue(scripted('a', [fail()]).delivery)).toBe(true);
    expect(queue.enqueue(scripted('b', [fail()]).delivery)).toBe(true);
    // When a third comes / Then it is dropped, and said so
    expect(queue.enqueue(scripted('c', [ok]).delivery)).toBe(false);
    expect(lines).toContain('warn: notify: dropped c: 2 deliveries are already waiting (a receiver is down or slow)');
    expect(queue.size).toBe(2);
    await clock.nextSleep();
    await queue.close();
    expect(queue.size).toBe(0);
  });

  it('for a command on the embedded broker, starts no retry after its deadline', async () => {
    const clock = new FakeClock();
    const { queue, lines } = queueWith(clock, { deadlineMs: 10_000 });
    const { delivery, attempts } = scripted('approved r-1 to hook', [fail('connect ECONNREFUSED 127.0.0.1:9')]);
    queue.enqueue(delivery);
    await idle(queue);
    // 0.75 + 1.5 + 3 = 5.25 s of waits; the next (6 s) would start past 10 s
    expect(attempts()).toBe(4);
    expect(lines.at(-1)).toBe('warn: notify: gave up delivering approved r-1 to hook (this command does not wait longer than 10s for notifications): connect ECONNREFUSED 127.0.0.1:9');
  });

  it('on close, gives up what waits for a retry and says so', async () => {
    const clock = new GatedClock();
    const { queue, lines } = queueWith(clock);
    queue.enqueue(scripted('revoked r-1 to hook', [fail()]).delivery);
    await clock.nextSleep();
    await queue.close();
    expect(lines.at(-1)).toBe('warn: notify: gave up delivering revoked r-1 to hook (the broker is stopping): HTTP 503');
    expect(queue.enqueue(scripted('late', [ok]).delivery)).toBe(false);
  });

  it('keeps at most `concurrency` attempts in flight', async () => {
    const clock = new FakeClock();
    const { queue } = queueWith(clock, { concurrency: 2 });
    let inFlight = 0;
    let most = 0;
    const slow = { label: 's', attempt: async (): Promise<AttemptResult> => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return ok;
    } };
    for (let index = 0; index < 6; index++) queue.enqueue(slow);
    await idle(queue);
    expect(most).toBe(2);
  });
});
