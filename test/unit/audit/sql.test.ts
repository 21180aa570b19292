import { describe, expect, it } from 'vitest';
import { parseServerUser, serverUserFor } from '../../../src/access/server-user.js';
import { describeSchema } from '../../../src/audit/schema.js';
import * as sql from '../../../src/audit/sql.js';

/** 18.16's query_log: numeric type, no log_comment, tables or exception_code. */
const OLD = describeSchema(
  'system.query_log',
  new Map(['event_date:Date', 'event_time:DateTime', 'type:UInt8', 'user:String', 'query_id:String', 'query:String', 'exception:String', 'read_rows:UInt64', 'read_bytes:UInt64', 'query_duration_ms:UInt64'].map((entry) => entry.split(':') as [string, string])),
);
const FILTER: sql.AuditFilter = { since: 1_795_000_000, until: 1_795_086_400, userPattern: '^byoc_' };
const count = (text: string, part: string) => text.split(part).length - 1;

/** The regular expression the SQL hands to extract(user, ...), read back out of the SQL. */
function userPatternIn(text: string): RegExp {
  const match = /extract\(user, '((?:[^'\\]|\\.)*)'\)/.exec(text);
  if (!match) throw new Error(`no extract(user, ...) in ${text}`);
  return new RegExp(match[1]!.replace(/\\(.)/g, '$1'));
}

/** The query after its WITH prelude: what ClickHouse computes per row is what this part references. */
const body = (text: string) => text.slice(text.indexOf('\nSELECT ') + 1);

describe('audit SQL: request and engineer from the user the server stamped', () => {
  it('defines the request as the per-request user\'s, and the query_id tag\'s only for other users', () => {
    // Given any audit query
    const text = sql.summarySql(OLD, FILTER);
    // Then its WITH prelude defines the attribution once
    expect(text).toMatch(/^WITH extract\(query_id, '\^byoc-\(r-\[0-9a-z\]\+\)-'\) AS tag_request,\n {2}extract\(user, '[^']+'\) AS user_request,\n {2}if\(user_request != '', concat\('r-', user_request\), tag_request\) AS request_id\nSELECT /);
    // And the user's regular expression reads exactly the ids parseServerUser reads, and nothing from legacy users
    const pattern = userPatternIn(text);
    for (const [id, identity] of [['r-0abc123xyz', 'alice@vendor.example'], ['r-zz9', "O'Brien+ops@Vendor.example"], ['r-1', 'ünïcode@x']] as const) {
      const user = serverUserFor(id, identity);
      expect(`r-${pattern.exec(user)?.[1]}`).toBe(parseServerUser(user)!.requestId);
    }
    for (const other of ['byoc_alice_vendor_example', 'byoc_r_x_vendor_example', 'default', 'byoc_r__alice', 'byoc_r_abc_alice_40vendor_2eexamplE']) {
      expect(pattern.exec(other), other).toBeNull();
      expect(parseServerUser(other), other).toBeUndefined();
    }
  });

  it('costs the default report no regular expression over the user: rows carry user and tag, byoc attributes them', () => {
    for (const text of [sql.summarySql(OLD, FILTER), sql.findingsSql(OLD, FILTER), sql.queryListSql(OLD, FILTER)]) {
      // each regular expression written once, and no subquery (18.x would not push the WHERE into it)
      expect(count(text, 'extract(user,')).toBe(1);
      expect(count(text, 'extract(query_id,')).toBe(1);
      expect(count(text, 'SELECT')).toBe(1);
      // and the user's one is never referenced (ClickHouse computes a WITH alias only where it is used)
      expect(body(text)).not.toMatch(/user_request|request_id/);
      // and who sent it is tested by prefix, not by a regular expression (LIKE is one on 18.x)
      expect(body(text)).not.toMatch(/match\(user|LIKE/);
    }
    // the summary groups by a key that needs no regular expression at all; byoc reads the tag from it
    expect(body(sql.summarySql(OLD, FILTER))).not.toContain('tag_request');
    expect(sql.summarySql(OLD, FILTER)).toContain('GROUP BY user, tag_key');
    expect(sql.ROW_FIELDS.slice(0, 4)).toEqual(['time', 'user', 'tag_request', 'query_id']);
  });

  it("groups the summary by a key that is the tag whenever extract(query_id, '^byoc-(r-[0-9a-z]+)-') finds one", () => {
    // Given query ids with valid tags, tags with characters a request id never has, and no tag at all
    const ids = [
      'byoc-r-abc-1', 'byoc-r-abc-def-1', 'byoc-r-0k3j9x2m1q-uuid', 'byoc-r-a', 'byoc-r-abc', 'byoc-r--x', 'byoc-r-', 'byoc-r-ab!c-1', 'byoc-r-ABC-1',
      'byoc-r-q1_2-x', 'byoc-r-é1-x', 'byoc-r-a\tb-x', 'byoc-nothing', 'byoc-r', 'adhoc', '', 'xbyoc-r-abc-1', 'byoc-R-abc-1', 'byoc-r-abc\n-1',
    ];
    // When the server computes TAG_KEY (simulated here on the bytes, as substring and position count them)
    const key = (id: string) => {
      const bytes = Buffer.from(id);
      if (bytes.subarray(0, 7).toString('latin1') !== 'byoc-r-') return '';
      const dash = bytes.subarray(7).indexOf('-'.charCodeAt(0)) + 1;
      return bytes.subarray(5, 5 + dash + 1).toString();
    };
    expect(sql.summarySql(OLD, FILTER)).toContain(
      "if(substring(query_id, 1, 7) = 'byoc-r-', substring(query_id, 6, position(substring(query_id, 8), '-') + 1), '') AS tag_key",
    );
    // Then byoc reads from the key exactly the tag the regular expression reads
    for (const id of ids) expect(sql.requestTag(key(id)), id).toBe(/^byoc-(r-[0-9a-z]+)-/.exec(id)?.[1] ?? '');
    expect(sql.requestTag(null)).toBe('');
  });

  it('uses the attribution only for the filters that need it', () => {
    expect(body(sql.summarySql(OLD, { ...FILTER, requestId: 'r-abc' }))).toContain("AND request_id = 'r-abc'");
    expect(body(sql.findingsSql(OLD, FILTER, { grants: [{ requestId: 'r-abc', from: 1, to: 2 }] }))).toContain("if((request_id != '' AND NOT ((request_id = 'r-abc' AND");
    expect(body(sql.summarySql(OLD, { ...FILTER, engineers: ['alice@vendor.example'] }))).toContain("user_request != ''");
  });

  it('keeps a per-request user an engineer whatever --user-pattern says', () => {
    const text = sql.summarySql(OLD, { ...FILTER, userPattern: '^legacy_' });
    expect(text).toContain("(substring(user, 1, 7) = 'legacy_' OR substring(user, 1, 7) = 'byoc_r_' OR substring(query_id, 1, 5) = 'byoc-')");
    // (by prefix: the per-request users' names all start so; the default pattern already covers them)
    expect(serverUserFor('r-1', 'x').slice(0, 7)).toBe('byoc_r_');
    expect(sql.summarySql(OLD, FILTER)).toContain("(substring(user, 1, 5) = 'byoc_' OR substring(query_id, 1, 5) = 'byoc-')");
  });

  it('compares bytes instead of running --user-pattern only when the pattern is an anchored literal prefix', () => {
    const condition = (userPattern: string) => /AND \((.*) OR substring\(query_id/.exec(sql.summarySql(OLD, { ...FILTER, userPattern }))![1];
    expect(condition('^eng-ops_1')).toBe("substring(user, 1, 9) = 'eng-ops_1' OR substring(user, 1, 7) = 'byoc_r_'");
    // anything RE2 could read otherwise stays a regular expression
    for (const pattern of ['^byoc.', '^a|^b', '^x$', '^(ab)', 'byoc_', '^a+', '^a\\.b', '^b[y]oc', "^o'brien"]) {
      expect(condition(pattern), pattern).toMatch(/^match\(user, '/);
    }
  });

  it('finds every kind in one pass, up to the limit of each', () => {
    const text = sql.findingsSql(OLD, FILTER, { limit: 50 });
    // one row per kind a query is, numbered, and the first 50 of each, oldest first
    expect(text).toMatch(/^SELECT arrayJoin\(arrayFilter\(kind -> kind != 0, \[if\(/m);
    expect(text).toMatch(/ORDER BY event_time, query_id\nLIMIT 50 BY finding$/);
    // untagged: no valid tag at all (also a `byoc-` query_id naming no request); other grant: a byoc_r_ user whose
    // name does not start with the tagged request's id
    expect(text).toContain(`if(tag_request = '', ${sql.FINDING_CODES.untagged}, 0)`);
    expect(text).toContain(
      `if((tag_request != '' AND (substring(user, 1, 7) = 'byoc_r_' AND substring(user, 1, length(tag_request) + 6) != concat('byoc_r_', substring(tag_request, 3), '_'))), ${sql.FINDING_CODES.otherGrant}, 0)`,
    );
    // an old schema has no tables column: byoc reads the text for those; a newer one tests them in the same pass
    expect(text).not.toContain('tables)');
    const modern = describeSchema('system.query_log', new Map([...OLD.columns, ['tables', 'Array(String)'], ['exception_code', 'Int32']]));
    const withTables = sql.findingsSql(modern, FILTER);
    expect(withTables).toContain(`if(arrayExists(t -> NOT (substring(t, 1, 7) = 'system.' OR substring(t, 1, 19) IN ('information_schema.', 'INFORMATION_SCHEMA.')), tables), ${sql.FINDING_CODES.foreignTable}, 0)`);
    // and every kind's condition is also what the WHERE keeps
    const [select, where] = withTables.split('\nWHERE ') as [string, string];
    const conditions = [...select.matchAll(/if\((.+?), (\d), 0\)(?=, if\(|\]\))/g)].map((match) => [Number(match[2]), match[1]!] as const);
    expect(conditions.map(([code]) => code)).toEqual([1, 2, 3, 4, 6]);
    // the query-text candidates by the tables the server logged (the text then says which columns)
    expect(withTables).toContain(`if(hasAny(tables, ['system.query_log', 'system.query_thread_log', 'system.query_views_log', 'system.processes',`);
    for (const [, condition] of conditions) expect(where).toContain(condition);
    // the prefix test is exact for per-request users: a request id never holds `_`, so `byoc_r_<id>_` ends where the id does
    const prefixMatches = (user: string, tag: string) => user.slice(0, tag.length + 6) === `byoc_r_${tag.slice(2)}_`;
    const user = serverUserFor('r-abc', 'alice@vendor.example');
    expect(prefixMatches(user, 'r-abc')).toBe(true);
    for (const other of ['r-ab', 'r-abcd', 'r-abd', 'r-a']) expect(prefixMatches(user, other), other).toBe(false);
  });

  it('--engineer selects an identity\'s per-request users for any request, or a user by name, with no extra regular expression', () => {
    // Given an identity with characters SQL and the encoding care about, and a legacy user name
    const text = sql.summarySql(OLD, { ...FILTER, engineers: ["o'brien@vendor.example", 'byoc_alice_vendor_example'] });
    // Then the identity is compared encoded, after `byoc_r_<id>_`, and the name as is (quoted)
    expect(text).toContain(
      "AND (user IN ('o\\'brien@vendor.example', 'byoc_alice_vendor_example') OR (user_request != '' AND substring(user, length(user_request) + 9) IN ('o_27brien_40vendor_2eexample', 'byoc_5falice_5fvendor_5fexample')))",
    );
    // And the offset is right: what follows `byoc_r_<id>_` is exactly the encoded identity
    const user = serverUserFor('r-0abc123xyz', "o'brien@vendor.example");
    expect(user.slice('0abc123xyz'.length + 8)).toBe('o_27brien_40vendor_2eexample');
  });
});
