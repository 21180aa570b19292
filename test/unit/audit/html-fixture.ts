import type { AccessRequest } from '../../../src/access/types.js';
import type { AuditReport, QueryRow } from '../../../src/audit/audit.js';
import type { ReportHtmlInput } from '../../../src/audit/html.js';

/** The text an attacker-engineer could put in a query: it must show as text and never run. */
export const INJECTED = `SELECT '</code><script>document.title="PWNED";document.body.setAttribute("data-pwned","1")</script><img src=x onerror="document.title='PWNED'">' FROM system.one`;

const ALICE = 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample';
const BOB = 'byoc_r_bbbbbbbbbb_bob_40vendor_2eexample';

function row(time: string, user: string, requestId: string | null, query: string, extra: Partial<QueryRow> = {}): QueryRow {
  return {
    time,
    user,
    engineer: user === ALICE ? 'alice@vendor.example' : user === BOB ? 'bob@vendor.example' : user,
    requestId,
    queryId: `byoc:${requestId ?? 'none'}:${time}`,
    type: 'finish',
    readRows: 10,
    readBytes: 2048,
    durationMs: 3,
    error: null,
    tables: [],
    query,
    taggedRequestId: requestId,
    ...extra,
  };
}

const grant = (id: string, requester: string, approvedAt: string, notAfter: string, revokedAt?: string): AccessRequest => ({
  id,
  service: 'acme-prod',
  scopes: ['clickhouse'],
  requester,
  reason: 'slow merges <investigate>',
  ticket: 'INC-42',
  duration: '1h',
  durationMs: 3_600_000,
  status: revokedAt ? 'revoked' : 'approved',
  reviews: [],
  approvalsRequired: 1,
  createdAt: approvedAt,
  pendingUntil: notAfter,
  approvedAt,
  notAfter,
  ...(revokedAt ? { revokedAt } : {}),
  certificates: [],
});

/** Two requests: alice's with an out-of-window query and a refusal, bob's revoked early with the injected text. */
export function fixture(): ReportHtmlInput {
  const events: QueryRow[] = [
    row('2026-11-21T09:05:00.000Z', ALICE, 'r-aaaaaaaaaa', 'SELECT * FROM system.parts', { tables: ['system.parts'] }),
    row('2026-11-21T09:10:00.000Z', ALICE, 'r-aaaaaaaaaa', 'SELECT count() FROM system.merges', { tables: ['system.merges'] }),
    row('2026-11-21T09:20:00.000Z', ALICE, 'r-aaaaaaaaaa', 'SHOW TABLES FROM system'),
    row('2026-11-21T09:30:00.000Z', ALICE, 'r-aaaaaaaaaa', 'INSERT INTO system.parts VALUES (1)', { type: 'exception-before-start', error: 'Code: 164, DB::Exception: readonly', readRows: 0, readBytes: 0 }),
    row('2026-11-21T11:30:00.000Z', ALICE, 'r-aaaaaaaaaa', '/* late */ SELECT 1 FROM system.one'),
    row('2026-11-21T10:05:00.000Z', BOB, 'r-bbbbbbbbbb', INJECTED),
    row('2026-11-21T10:40:00.000Z', BOB, 'r-bbbbbbbbbb', 'SELECT * FROM default.cards', { tables: ['default.cards'] }),
  ];
  const [, , , refused, late, , foreign] = events as [QueryRow, QueryRow, QueryRow, QueryRow, QueryRow, QueryRow, QueryRow];
  const summary: AuditReport = {
    source: 'system.query_log',
    schema: { logComment: false, tables: false, typeIsEnum: false, exceptionCode: false },
    window: { since: '2026-11-21T00:00:00.000Z', until: '2026-11-22T00:00:00.000Z' },
    findings: [
      { kind: 'denied', detail: 'alice@vendor.example was refused: Code: 164, DB::Exception: readonly', row: refused },
      { kind: 'outside-window', detail: 'alice@vendor.example queried under r-aaaaaaaaaa outside its approved window', row: late },
      { kind: 'non-system-table', detail: 'bob@vendor.example referenced default.cards <b>bold</b>', row: foreign },
      { kind: 'outside-window', detail: 'bob@vendor.example queried under r-bbbbbbbbbb outside its approved window', row: foreign },
    ],
    requests: [
      { requestId: 'r-aaaaaaaaaa', engineers: ['alice@vendor.example'], first: '2026-11-21T09:05:00.000Z', last: '2026-11-21T11:30:00.000Z', queries: 5, failures: 1, denied: 1, readRows: 40, readBytes: 8192, grant: { from: '2026-11-21T09:00:00.000Z', to: '2026-11-21T10:00:00.000Z' } },
      { requestId: 'r-bbbbbbbbbb', engineers: ['bob@vendor.example'], first: '2026-11-21T10:05:00.000Z', last: '2026-11-21T10:40:00.000Z', queries: 2, failures: 0, denied: 0, readRows: 20, readBytes: 4096 },
    ],
    engineers: [
      { engineer: 'alice@vendor.example', users: [ALICE], requests: ['r-aaaaaaaaaa'], first: '2026-11-21T09:05:00.000Z', last: '2026-11-21T11:30:00.000Z', queries: 5, failures: 1, denied: 1, readRows: 40, readBytes: 8192 },
      { engineer: 'bob@vendor.example', users: [BOB], requests: ['r-bbbbbbbbbb'], first: '2026-11-21T10:05:00.000Z', last: '2026-11-21T10:40:00.000Z', queries: 2, failures: 0, denied: 0, readRows: 20, readBytes: 4096 },
    ],
  };
  return {
    service: 'acme-prod',
    window: summary.window,
    summary,
    events,
    // bob's grant was revoked at 10:30: his 10:40 query is outside the window the broker holds
    grants: [grant('r-bbbbbbbbbb', 'bob@vendor.example', '2026-11-21T10:00:00.000Z', '2026-11-21T11:00:00.000Z', '2026-11-21T10:30:00.000Z')],
  };
}
