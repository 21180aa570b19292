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

describe('audit SQL: request and engineer from the user the server stamped', () => {
  it('takes the request from a per-request user, and from the query_id tag only for other users', () => {
    // Given the summary query for an old server
    const text = sql.summarySql(OLD, FILTER);
    // Then the request id is the per-request user's id when the user is one, else the tag's
    expect(text).toContain("if((extract(user, ");
    expect(text).toContain("AS user_request) != '', concat('r-', user_request), extract(query_id, '^byoc-(r-[0-9a-z]+)-')) AS request_id");
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

  it('writes each regular expression once per query and reuses it by alias (old servers pay per row)', () => {
    for (const text of [sql.summarySql(OLD, FILTER), sql.deniedSql(OLD, FILTER), sql.tagFindingsSql(OLD, FILTER), sql.queryListSql(OLD, FILTER), sql.outsideWindowsSql(OLD, FILTER, [])]) {
      expect(count(text, 'extract(user,')).toBe(1);
      expect(count(text, 'extract(query_id,')).toBe(1);
      // no subquery: 18.x would not push the WHERE into it
      expect(count(text, 'SELECT')).toBe(1);
    }
  });

  it('keeps a per-request user an engineer whatever --user-pattern says', () => {
    const text = sql.summarySql(OLD, { ...FILTER, userPattern: '^legacy_' });
    expect(text).toContain("(match(user, '^legacy_') OR substring(user, 1, 7) = 'byoc_r_' OR query_id LIKE 'byoc-%')");
    // (by prefix: the per-request users' names all start so)
    expect(serverUserFor('r-1', 'x').slice(0, 7)).toBe('byoc_r_');
  });

  it('finds untagged and mis-tagged queries in one pass, up to the limit of each', () => {
    const text = sql.tagFindingsSql(OLD, FILTER, 50);
    // untagged: no valid tag at all (also a `byoc-` query_id naming no request); mismatch: a per-request user's tag names another request
    expect(text).toContain("AND (tag_request = '' OR (user_request != '' AND tag_request != request_id))");
    expect(text).toMatch(/LIMIT 50 BY tag_request = ''$/);
    // the row carries the tag's request next to the attributed one
    expect(text).toContain("extract(query_id, '^byoc-(r-[0-9a-z]+)-') AS tag_request");
    expect(sql.ROW_FIELDS.at(-1)).toBe('tag_request');
  });

  it('--engineer selects an identity\'s per-request users for any request, or a user by name, with no regular expression per row', () => {
    // Given an identity with characters SQL and the encoding care about, and a legacy user name
    const text = sql.summarySql(OLD, { ...FILTER, engineers: ["o'brien@vendor.example", 'byoc_alice_vendor_example'] });
    // Then the identity is compared encoded, after `byoc_r_<id>_`, and the name as is (quoted)
    expect(text).toContain(
      "AND (user IN ('o\\'brien@vendor.example', 'byoc_alice_vendor_example') OR (user_request != '' AND substring(user, length(user_request) + 9) IN ('o_27brien_40vendor_2eexample', 'byoc_5falice_5fvendor_5fexample')))",
    );
    // And the offset is right: what follows `byoc_r_<id>_` is exactly the encoded identity
    const user = serverUserFor('r-0abc123xyz', "o'brien@vendor.example");
    const id = '0abc123xyz';
    expect(user.slice(id.length + 8)).toBe('o_27brien_40vendor_2eexample');
  });

  it('--request selects by the attributed request (the per-request user\'s), not by the tag alone', () => {
    expect(sql.summarySql(OLD, { ...FILTER, requestId: 'r-abc' })).toContain("AND request_id = 'r-abc'");
  });
});
