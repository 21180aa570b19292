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
    for (const text of [sql.summarySql(OLD, FILTER), sql.deniedSql(OLD, FILTER), sql.tagFindingsSql(OLD, FILTER), sql.queryListSql(OLD, FILTER)]) {
      // each regular expression written once, and no subquery (18.x would not push the WHERE into it)
      expect(count(text, 'extract(user,')).toBe(1);
      expect(count(text, 'extract(query_id,')).toBe(1);
      expect(count(text, 'SELECT')).toBe(1);
      // and the user's one is never referenced (ClickHouse computes a WITH alias only where it is used)
      expect(body(text)).not.toMatch(/user_request|request_id/);
    }
    expect(sql.summarySql(OLD, FILTER)).toContain('GROUP BY user, tag_request');
    expect(sql.ROW_FIELDS.slice(0, 4)).toEqual(['time', 'user', 'tag_request', 'query_id']);
  });

  it('uses the attribution only for the filters that need it', () => {
    expect(body(sql.summarySql(OLD, { ...FILTER, requestId: 'r-abc' }))).toContain("AND request_id = 'r-abc'");
    expect(body(sql.outsideWindowsSql(OLD, FILTER, [{ requestId: 'r-abc', from: 1, to: 2 }]))).toContain("AND request_id != '' AND NOT ((request_id = 'r-abc' AND");
    expect(body(sql.summarySql(OLD, { ...FILTER, engineers: ['alice@vendor.example'] }))).toContain("user_request != ''");
  });

  it('keeps a per-request user an engineer whatever --user-pattern says', () => {
    const text = sql.summarySql(OLD, { ...FILTER, userPattern: '^legacy_' });
    expect(text).toContain("(match(user, '^legacy_') OR substring(user, 1, 7) = 'byoc_r_' OR query_id LIKE 'byoc-%')");
    // (by prefix: the per-request users' names all start so)
    expect(serverUserFor('r-1', 'x').slice(0, 7)).toBe('byoc_r_');
  });

  it('finds untagged and mis-tagged queries in one pass, up to the limit of each', () => {
    const text = sql.tagFindingsSql(OLD, FILTER, 50);
    // untagged: no valid tag at all (also a `byoc-` query_id naming no request); mismatch: a byoc_r_ user whose name
    // does not start with the tagged request's id
    expect(text).toContain(
      "AND (tag_request = '' OR (substring(user, 1, 7) = 'byoc_r_' AND substring(user, 1, length(tag_request) + 6) != concat('byoc_r_', substring(tag_request, 3), '_')))",
    );
    expect(text).toMatch(/LIMIT 50 BY tag_request = ''$/);
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
