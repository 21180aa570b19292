import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../../src/access/types.js';
import { engineerOf, findingDetail, runAudit, toRow } from '../../../src/audit/audit.js';
import type { QueryRequest } from '../../../src/clickhouse/client.js';
import type { ClickHouseSession } from '../../../src/clickhouse/client.js';
import { strictFake } from '../../fakes/strict-fake.js';

const ALICE_A = 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample';
const ALICE_B = 'byoc_r_bbbbbbbbbb_alice_40vendor_2eexample';
const T0 = Date.parse('2026-11-21T09:00:00Z') / 1000;

/** A query_log row as the audit SELECTs it (sql.ROW_FIELDS order): the tag's request, never an attributed one. */
const row = (offset: number, user: string, queryId: string, tag: string, type = 2) => [String(T0 + offset), user, tag, queryId, String(type), '10', '1000', '3', '', '[]', 'SELECT 1'];

const OLD_COLUMNS = ['event_date:Date', 'event_time:DateTime', 'type:UInt8', 'user:String', 'query_id:String', 'query:String', 'exception:String', 'read_rows:UInt64', 'read_bytes:UInt64', 'query_duration_ms:UInt64'].map((entry) => entry.split(':'));

/** A session answering by which query it is; any query it does not expect fails the test. */
function session(answers: { summary: string[][]; findings?: string[][]; list?: string[][]; logins?: string[][] | Error }) {
  const sent: string[] = [];
  const fake = strictFake<ClickHouseSession>(
    {
      async query(request: QueryRequest) {
        sent.push(request.sql);
        const pick = (): string[][] => {
          if (request.sql.includes('FROM system.columns')) return OLD_COLUMNS;
          // 18.x keeps no session log unless a test says otherwise
          if (request.sql.includes("name = 'session_log'")) return [[answers.logins ? '1' : '0']];
          if (request.sql.includes('FROM system.session_log')) {
            if (answers.logins instanceof Error) throw answers.logins;
            return answers.logins ?? [];
          }
          if (request.sql.includes('GROUP BY user, tag_key')) return answers.summary;
          if (request.sql.includes('LIMIT 1000 BY finding')) return answers.findings ?? [];
          if (!request.sql.includes('LIMIT')) return answers.list ?? [];
          throw new Error(`unexpected query: ${request.sql}`);
        };
        const rows = pick();
        return (async function* () {
          yield rows.map((fields) => fields.join('\t'));
        })();
      },
    },
    'clickhouse session',
  );
  return { fake, sent };
}

/** A finding row as the one-pass findings query returns it: its kind's number, then the row. */
const finding = (code: number, fields: string[]) => [String(code), ...fields];

const FILTER = { since: T0 - 3600, until: T0 + 3600, userPattern: '^byoc_' };

describe('audit attribution from the server user', () => {
  it('names the engineer and request of a per-request user from the user alone', () => {
    // Given a row logged under alice's user for request A, tagged for request C
    const mapped = toRow(row(0, ALICE_A, 'byoc-r-cccccccccc-1', 'r-cccccccccc'));
    // Then the engineer and the request are the ones the user carries, and the row keeps the tag's request apart
    expect(mapped).toMatchObject({ user: ALICE_A, engineer: 'alice@vendor.example', requestId: 'r-aaaaaaaaaa', taggedRequestId: 'r-cccccccccc' });
    // And with no tag at all the request is still the user's
    expect(toRow(row(0, ALICE_A, 'adhoc', ''))).toMatchObject({ requestId: 'r-aaaaaaaaaa', taggedRequestId: null });
  });

  it('shows a legacy per-engineer user, or any other user, by its name', () => {
    expect(engineerOf('byoc_alice_vendor_example')).toBe('byoc_alice_vendor_example');
    expect(engineerOf('app')).toBe('app');
    // a legacy user's request can only come from its tag
    expect(toRow(row(0, 'byoc_alice_vendor_example', 'byoc-r-dddddddddd-1', 'r-dddddddddd'))).toMatchObject({ engineer: 'byoc_alice_vendor_example', requestId: 'r-dddddddddd' });
    expect(toRow(row(0, 'byoc_alice_vendor_example', 'adhoc', ''))).toMatchObject({ requestId: null, taggedRequestId: null });
  });

  it('reports a forged tag as tag-mismatch, an untagged query as untagged, with no --grants', async () => {
    // Given alice's user for request A sending one query tagged for bob's request C, one with no tag, and one whose
    // `byoc-` query_id names no request
    const { fake, sent } = session({
      // per user and tag: alice's forged query is its own group, counted under her user's request
      summary: [
        [ALICE_A, '', String(T0 + 60), String(T0 + 61), '2', '0', '0', '20', '2000'],
        [ALICE_A, 'r-aaaaaaaaaa', String(T0), String(T0 + 20), '2', '0', '0', '20', '2000'],
        [ALICE_A, 'r-cccccccccc', String(T0 + 30), String(T0 + 30), '1', '0', '0', '10', '1000'],
        [ALICE_B, 'r-bbbbbbbbbb', String(T0 + 90), String(T0 + 90), '1', '0', '0', '10', '1000'],
        ['byoc_alice_vendor_example', 'r-dddddddddd', String(T0 + 120), String(T0 + 120), '1', '0', '0', '10', '1000'],
      ],
      findings: [
        finding(3, row(30, ALICE_A, 'byoc-r-cccccccccc-forged', 'r-cccccccccc')),
        finding(2, row(60, ALICE_A, 'adhoc-1', '')),
        finding(2, row(61, ALICE_A, 'byoc-nothing', '')),
        // the SQL's cheap prefix test also lets through a `byoc_r_` name that is no per-request user: no grant to contradict
        finding(3, row(62, 'byoc_r_x_vendor_example', 'byoc-r-dddddddddd-1', 'r-dddddddddd')),
      ],
    });
    // When the customer audits without grants
    const report = await runAudit(fake, { filter: FILTER });
    // Then the forged tag is a finding naming the engineer, the user's request and the tagged request
    expect(report.findings.map((finding) => [finding.kind, finding.row.queryId])).toEqual([
      ['tag-mismatch', 'byoc-r-cccccccccc-forged'],
      ['untagged', 'adhoc-1'],
      ['untagged', 'byoc-nothing'],
    ]);
    expect(report.findings[0]!.detail).toBe(
      'alice@vendor.example ran a query as the server user of r-aaaaaaaaaa tagged for r-cccccccccc (query_id byoc-r-cccccccccc-forged): the tag does not match the grant',
    );
    expect(report.findings[0]!.row).toMatchObject({ requestId: 'r-aaaaaaaaaa', taggedRequestId: 'r-cccccccccc', engineer: 'alice@vendor.example' });
    expect(report.findings[1]!.detail).toBe('alice@vendor.example ran a query with no byoc request tag (query_id adhoc-1) as the server user of r-aaaaaaaaaa');
    // And requests and engineers are named from the users, the legacy one by its name
    expect(report.requests.map((request) => [request.requestId, request.engineers])).toEqual([
      ['r-aaaaaaaaaa', ['alice@vendor.example']],
      ['r-bbbbbbbbbb', ['alice@vendor.example']],
      ['r-dddddddddd', ['byoc_alice_vendor_example']],
    ]);
    // the forged query counts under the request of the user that ran it, never under the request it named
    expect(report.requests[0]).toMatchObject({ requestId: 'r-aaaaaaaaaa', queries: 5, first: '2026-11-21T09:00:00.000Z', last: '2026-11-21T09:01:01.000Z' });
    expect(report.engineers).toEqual([
      expect.objectContaining({ engineer: 'alice@vendor.example', users: [ALICE_A, ALICE_B], requests: ['r-aaaaaaaaaa', 'r-bbbbbbbbbb'], queries: 6, first: '2026-11-21T09:00:00.000Z' }),
      expect.objectContaining({ engineer: 'byoc_alice_vendor_example', requests: ['r-dddddddddd'], queries: 1 }),
    ]);
    // And without grants, no window check was sent
    expect(sent.some((text) => text.includes('AND NOT ('))).toBe(false);
    fake.assertAllCalled();
  });

  it('with --grants, checks windows against the request the user stands for', async () => {
    const grants = [{ id: 'r-aaaaaaaaaa', requester: 'alice@vendor.example', approvedAt: '2026-11-21T09:00:00.000Z', notAfter: '2026-11-21T09:01:00.000Z' }] as AccessRequest[];
    const { fake, sent } = session({ summary: [], findings: [finding(5, row(600, ALICE_A, 'byoc-r-aaaaaaaaaa-late', 'r-aaaaaaaaaa'))] });
    const report = await runAudit(fake, { filter: FILTER, grants });
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'outside-window', detail: 'alice@vendor.example queried under r-aaaaaaaaaa outside its approved window' })]);
    expect(sent.find((text) => text.includes('AND NOT ('))).toContain("request_id = 'r-aaaaaaaaaa' AND event_time >= toDateTime(");
  });

  it('reads the tag from the summary\'s key: a key that is no request id is untagged, listed where the untagged sort', async () => {
    // Given the server's summary, sorted by user and tag key, where a legacy user's keys `r-zzz!` and `r` name no
    // request (byoc-r-zzz!-1, byoc-r-abc with no dash after it) and sort after its valid tag r-abc
    const { fake } = session({
      summary: [
        ['byoc_edge', 'r-abc', String(T0), String(T0 + 10), '2', '0', '0', '20', '2000'],
        ['byoc_edge', 'r-zzz!', String(T0 + 20), String(T0 + 30), '3', '1', '1', '30', '3000'],
        ['byoc_other', 'r', String(T0 - 5), String(T0 + 40), '1', '0', '0', '10', '1000'],
      ],
    });
    // When the customer audits
    const report = await runAudit(fake, { filter: FILTER });
    // Then those rows count as untagged, and everything is listed as if the server had sorted by the tag itself
    expect(report.requests.map((request) => [request.requestId, request.queries, request.engineers])).toEqual([
      [null, 4, ['byoc_edge', 'byoc_other']],
      ['r-abc', 2, ['byoc_edge']],
    ]);
    expect(report.requests[0]).toMatchObject({ first: new Date((T0 - 5) * 1000).toISOString(), last: new Date((T0 + 40) * 1000).toISOString(), failures: 1, denied: 1, readRows: 40 });
    expect(report.engineers.map((engineer) => [engineer.engineer, engineer.requests, engineer.queries])).toEqual([
      ['byoc_edge', [null, 'r-abc'], 5],
      ['byoc_other', [null], 1],
    ]);
  });

  it('reports a query once per kind it is, from the one findings pass', async () => {
    // Given one refused query by alice's user that is also untagged, returned once per kind, and a refusal by a legacy user
    const { fake } = session({
      summary: [],
      findings: [
        finding(1, row(5, ALICE_A, 'adhoc-2', '', 3)),
        finding(2, row(5, ALICE_A, 'adhoc-2', '', 3)),
        finding(1, row(7, 'byoc_alice_vendor_example', 'byoc-r-dddddddddd-2', 'r-dddddddddd', 4)),
      ],
    });
    const report = await runAudit(fake, { filter: FILTER });
    // Then each is a finding of its kind, oldest first
    expect(report.findings.map((entry) => [entry.kind, entry.row.queryId, entry.row.type])).toEqual([
      ['denied', 'adhoc-2', 'exception-before-start'],
      ['untagged', 'adhoc-2', 'exception-before-start'],
      ['denied', 'byoc-r-dddddddddd-2', 'exception-while-processing'],
    ]);
  });

  it('describes every finding kind in one sentence naming the engineer', () => {
    const sample = toRow(row(0, ALICE_A, 'byoc-r-cccccccccc-x', 'r-cccccccccc'));
    for (const kind of ['denied', 'non-system-table', 'query-text-read', 'untagged', 'tag-mismatch', 'outside-window', 'login-failed'] as const) {
      expect(findingDetail(kind, sample, ['default.orders'])).toMatch(/^alice@vendor\.example /);
    }
  });

  it('on a server with no tables column, reads each query text for reads of other users\' query texts, and notes the missing session log', async () => {
    // Given an 18.x log (no tables, no session_log) with alice reading the log's text, counting it, and naming a
    // text column only inside a string
    const text = (offset: number, id: string, query: string) => [...row(offset, ALICE_A, id, 'r-aaaaaaaaaa').slice(0, 10), query];
    const { fake } = session({
      summary: [[ALICE_A, 'r-aaaaaaaaaa', String(T0), String(T0 + 30), '3', '0', '0', '30', '3000']],
      list: [
        text(0, 'byoc-r-aaaaaaaaaa-1', "SELECT event_time, query FROM system.query_log WHERE query LIKE '%4111%'"),
        text(10, 'byoc-r-aaaaaaaaaa-2', 'SELECT count() FROM system.query_log'),
        text(20, 'byoc-r-aaaaaaaaaa-3', "SELECT 'query' FROM system.processes"),
        text(30, 'byoc-r-aaaaaaaaaa-4', 'SELECT * FROM system.processes'),
      ],
    });
    // When the customer audits
    const report = await runAudit(fake, { filter: FILTER });
    // Then exactly the two reads of the text are findings, with the rows each read
    expect(report.findings.map((entry) => [entry.kind, entry.row.queryId, entry.detail])).toEqual([
      ['query-text-read', 'byoc-r-aaaaaaaaaa-1', "alice@vendor.example read other users' query texts (query of system.query_log): 10 rows read"],
      ['query-text-read', 'byoc-r-aaaaaaaaaa-4', "alice@vendor.example read other users' query texts (* of system.processes): 10 rows read"],
    ]);
    // And the failed-login check says it was skipped rather than finding nothing
    expect(report.notes).toEqual([expect.stringMatching(/^failed logins not checked: this server keeps no system\.session_log/)]);
  });

  it('reads failed logins of engineer users from system.session_log where it exists, for the request asked', async () => {
    // Given a server with a session log holding failed logins of alice's users for two requests
    const { fake, sent } = session({
      summary: [],
      logins: [
        [String(T0), ALICE_A, '10.0.0.9', 'HTTP', 'AUTHENTICATION_FAILED'],
        [String(T0 + 5), ALICE_B, '10.0.0.9', 'TCP', ''],
      ],
    });
    // When the customer audits request B
    const report = await runAudit(fake, { filter: { ...FILTER, requestId: 'r-bbbbbbbbbb' } });
    // Then only B's failed login is a finding, and the SQL kept only LoginFailure rows of engineer users
    expect(report.findings.map((entry) => [entry.kind, entry.row.user, entry.row.type, entry.detail])).toEqual([['login-failed', ALICE_B, 'login-failure', `alice@vendor.example failed to log in as ${ALICE_B}: from 10.0.0.9 over TCP`]]);
    const logins = sent.find((text) => text.includes('FROM system.session_log'))!;
    expect(logins).toContain("CAST(type, 'Int8') = 0");
    expect(logins).toContain("substring(toString(user), 1, 5) = 'byoc_'");
    expect(report.notes).toEqual([]);
  });

  it('notes a refused session log and keeps the rest of the audit; any other failure still fails it', async () => {
    // Given an auditor whose user may read query_log but not session_log
    const refused = Object.assign(new Error('Code: 497. Not enough privileges'), { exitCode: 4 });
    const { fake } = session({ summary: [[ALICE_A, 'r-aaaaaaaaaa', String(T0), String(T0), '1', '0', '0', '1', '1']], logins: refused });
    // When the customer audits / Then the summary is there and a note says which check was skipped and why
    const report = await runAudit(fake, { filter: FILTER });
    expect(report.requests).toHaveLength(1);
    expect(report.notes).toEqual(['failed logins not checked: reading system.session_log was refused (Code: 497. Not enough privileges)']);
    // And a server failure that is no refusal is not hidden
    const broken = session({ summary: [], logins: Object.assign(new Error('Code: 241. Memory limit exceeded'), { exitCode: 5 }) });
    await expect(runAudit(broken.fake, { filter: FILTER })).rejects.toThrow('Memory limit exceeded');
  });
});
