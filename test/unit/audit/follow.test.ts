import { describe, expect, it } from 'vitest';
import { followQueries } from '../../../src/audit/follow.js';
import { describeSchema } from '../../../src/audit/schema.js';
import type { ClickHouseSession, QueryRequest } from '../../../src/clickhouse/client.js';
import { FakeClock } from '../../fakes/context.js';
import { strictFake } from '../../fakes/strict-fake.js';

const T0 = Date.parse('2026-11-21T09:00:00Z') / 1000;
const USER = 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample';
const SCHEMA = describeSchema(
  'system.query_log',
  new Map(['event_date:Date', 'event_time:DateTime', 'type:UInt8', 'user:String', 'query_id:String', 'query:String', 'exception:String', 'read_rows:UInt64', 'read_bytes:UInt64', 'query_duration_ms:UInt64'].map((entry) => entry.split(':') as [string, string])),
);
const FILTER = { since: T0 - 3600, until: T0, userPattern: '^byoc_' };

/**
 * A query_log that grows while the follower sleeps, answering the watermark the way ClickHouse would: rows at or after
 * `event_time >= toDateTime(t)`, minus the query_ids already seen at exactly t.
 */
function growingLog(arrivals: [number, string][][], options: { failOnPoll?: number } = {}) {
  const log: [number, string][] = [];
  const polls: { sql: string; until: number }[] = [];
  let closed = 0;
  const session = strictFake<ClickHouseSession>(
    {
      async query(request: QueryRequest) {
        polls.push({ sql: request.sql, until: Number(/event_time < toDateTime\((\d+)\)/.exec(request.sql)?.[1] ?? NaN) });
        if (polls.length === options.failOnPoll) throw new Error('connection reset by the server');
        log.push(...(arrivals[polls.length - 1] ?? []));
        const from = Number(/event_time >= toDateTime\((\d+)\)/.exec(request.sql)?.[1] ?? 0);
        const seenAt = /AND NOT \(event_time = toDateTime\((\d+)\) AND query_id IN \(([^)]*)\)\)/.exec(request.sql);
        const seen = new Set([...(seenAt?.[2] ?? '').matchAll(/'([^']*)'/g)].map((match) => match[1]));
        const rows = log
          .filter(([time, id]) => time >= from && !(seenAt && time === Number(seenAt[1]) && seen.has(id)))
          .sort(([a], [b]) => a - b)
          .map(([time, id]) => [String(time), USER, 'r-aaaaaaaaaa', id, '2', '1', '10', '1', '', '[]', 'SELECT 1'].join('\t'));
        return (async function* () {
          yield rows;
        })();
      },
      async close() {
        closed++;
      },
    },
    'clickhouse session',
  );
  return { session, polls, closed: () => closed };
}

describe('audit --follow', () => {
  it('prints each query once, including one that arrives later in a second already printed', async () => {
    // Given a log where a, b arrive at T0, then c at T0 (the same second, logged late) and d at T0+1, then nothing
    const { session, polls, closed } = growingLog([[[T0, 'a'], [T0, 'b']], [[T0, 'c'], [T0 + 1, 'd']], []]);
    const controller = new AbortController();
    const clock = new FakeClock(new Date(T0 * 1000));
    // When following until the third poll has answered
    const seen: string[] = [];
    const follower = followQueries(session, SCHEMA, FILTER, { intervalMs: 2000, clock, signal: controller.signal });
    for await (const row of follower) {
      seen.push(row.queryId);
      if (seen.length === 4) controller.abort();
    }
    // Then every query came exactly once, in order, and the session was closed once
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    expect(closed()).toBe(1);
    // And the second poll continued from the watermark: T0, with a and b already printed
    expect(polls[1]!.sql).toContain(`event_time >= toDateTime(${T0}) AND NOT (event_time = toDateTime(${T0}) AND query_id IN ('a', 'b'))`);
  });

  it('waits the interval between polls and keeps the window open past now', async () => {
    // Given an empty log / When following for three polls
    const { session, polls } = growingLog([]);
    const controller = new AbortController();
    const clock = new FakeClock(new Date(T0 * 1000));
    const sleeps: number[] = [];
    const counting = { now: clock.now, sleep: async (ms: number, signal?: AbortSignal) => {
      sleeps.push(ms);
      if (sleeps.length === 3) controller.abort();
      await clock.sleep(ms, signal);
    } };
    for await (const _row of followQueries(session, SCHEMA, FILTER, { intervalMs: 300, clock: counting, signal: controller.signal })) {
      // nothing arrives
    }
    // Then it slept 300 ms after each poll, and each poll's window ended an hour past that poll's now (whole seconds up)
    expect(sleeps).toEqual([300, 300, 300]);
    expect(polls.map((poll) => poll.until - T0)).toEqual([3600, 3601, 3601]);
  });

  it('closes the session when its consumer stops early', async () => {
    // Given a log with two queries / When the consumer takes one and stops
    const { session, closed } = growingLog([[[T0, 'a'], [T0, 'b']]]);
    for await (const _row of followQueries(session, SCHEMA, FILTER, { intervalMs: 1000, clock: new FakeClock(), signal: new AbortController().signal })) break;
    // Then the session is closed
    expect(closed()).toBe(1);
  });

  it('reports a failing poll (not an abort) as an error, and still closes the session', async () => {
    // Given a server that fails the second poll
    const { session, closed } = growingLog([[[T0, 'a']]], { failOnPoll: 2 });
    const seen: string[] = [];
    // When following / Then the failure surfaces after the first rows
    await expect(
      (async () => {
        for await (const row of followQueries(session, SCHEMA, FILTER, { intervalMs: 1000, clock: new FakeClock(), signal: new AbortController().signal })) seen.push(row.queryId);
      })(),
    ).rejects.toThrow('connection reset by the server');
    expect(seen).toEqual(['a']);
    expect(closed()).toBe(1);
  });
});
