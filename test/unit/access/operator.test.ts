import { describe, expect, it } from 'vitest';
import type { AccessBroker } from '../../../src/access/broker.js';
import { CHANGEABLE_SETTINGS, PINNED_SETTINGS, renderOperatorConfig } from '../../../src/access/operator.js';
import { serverUserFor } from '../../../src/access/server-user.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { ALLOWED_SETTINGS } from '../../../src/clickhouse/guard.js';
import { runTagged } from '../../../src/clickhouse/run.js';
import { FakeClock } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';
const HOUR = 3_600_000;

async function setup() {
  const clock = new FakeClock();
  const { broker } = await openTestBroker(tempDir(), clock);
  return { broker, clock };
}

async function approved(broker: AccessBroker, identity = ALICE, extra: { reason?: string; ticket?: string } = {}): Promise<AccessRequest> {
  const created = await broker.create(identity, { service: 'acme-prod', reason: extra.reason ?? 'merges stuck', duration: '2h', ...(extra.ticket ? { ticket: extra.ticket } : {}) });
  return broker.approve(BOB, created.id, 'ok');
}

/** The statements of a rendered script: every line that is not a `-- ` comment. */
function statements(sql: string): string[] {
  return sql.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('-- '));
}

describe('operator step: create, per request', () => {
  it("gives each request its own user, named after the request and the engineer, matched by the request's SAN", async () => {
    // Given two approved requests of the same engineer
    const { broker } = await setup();
    const first = await approved(broker);
    const second = await approved(broker);
    // When the operator step is rendered for each
    const one = await broker.operatorConfig(BOB, first.id, 'sql');
    const two = await broker.operatorConfig(BOB, second.id, 'sql');
    // Then each creates its own user, authenticated by its own request URN, never by the CN
    expect(one).toMatchObject({ requestId: first.id, format: 'sql', action: 'create', status: 'approved', user: serverUserFor(first.id, ALICE), commonName: ALICE, subjectAltName: `URI:urn:byoc:request:${first.id}`, notAfter: first.notAfter });
    expect(two.user).toBe(serverUserFor(second.id, ALICE));
    expect(one.user).not.toBe(two.user);
    expect(statements(one.content)[0]).toMatch(new RegExp(`^CREATE USER IF NOT EXISTS ${one.user} IDENTIFIED WITH ssl_certificate SAN 'URI:urn:byoc:request:${first.id}' VALID UNTIL `));
    expect(one.content).not.toContain(two.user);
    expect(one.content).not.toMatch(/ssl_certificate CN/);
  });

  it('keeps identities that used to fold alike apart', async () => {
    // Given two engineers whose per-engineer name was the same (byoc_alice_vendor_example)
    const { broker } = await setup();
    const dotted = await approved(broker, 'alice.vendor@example');
    const plain = await approved(broker, 'alice@vendor.example');
    // Then their users differ and each script names only its own
    const a = await broker.operatorConfig(BOB, dotted.id, 'sql');
    const b = await broker.operatorConfig(BOB, plain.id, 'sql');
    expect(a.user).not.toBe(b.user);
    expect(a.content).not.toContain(b.user);
    expect(b.content).not.toContain(a.user);
  });

  it('sets VALID UNTIL to the grant end, in UTC, never after it', async () => {
    const { broker, clock } = await setup();
    clock.advance(1234);
    const request = await approved(broker);
    const config = await broker.operatorConfig(BOB, request.id, 'sql');
    const validUntil = /VALID UNTIL '(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC'/.exec(config.content)![1]!;
    // The grant ends at .234 of a second: VALID UNTIL is that second, truncated
    expect(request.notAfter).toBe('2026-11-21T12:00:01.234Z');
    expect(validUntil).toBe('2026-11-21 12:00:01');
    expect(config.content).toContain(`grant end 2026-11-21 12:00:01 UTC`);
  });

  it('grants SELECT on system.* and nothing else, after revoking everything', async () => {
    const { broker } = await setup();
    const request = await approved(broker);
    const { content, user } = await broker.operatorConfig(BOB, request.id, 'sql');
    expect(statements(content).slice(1)).toEqual([`REVOKE ALL ON *.* FROM ${user};`, `GRANT SELECT ON system.* TO ${user};`]);
    expect(content).not.toMatch(/information_schema|CREATE SETTINGS PROFILE/i);
  });

  it('pins read-only and query logging, and lets a query change only log_comment and the limits byoc uses, within bounds', async () => {
    const { broker } = await setup();
    const request = await approved(broker);
    const create = statements((await broker.operatorConfig(BOB, request.id, 'sql')).content)[0]!;
    expect(create).toContain('SETTINGS readonly = 1 CONST, log_queries = 1 CONST, ');
    expect(create).toContain(`log_queries_min_type = 'QUERY_START' CONST`);
    expect(create).toContain('log_comment CHANGEABLE_IN_READONLY');
    expect(create).toContain('max_execution_time = 60 MIN 1 MAX 600 CHANGEABLE_IN_READONLY');
    expect(create).toContain('max_result_rows = 1000000 MIN 1 MAX 1000000 CHANGEABLE_IN_READONLY');
    const changeable = [...create.matchAll(/(\w+)(?: = \d+)?(?: MIN \d+)?(?: MAX \d+)? CHANGEABLE_IN_READONLY/g)].map((match) => match[1]);
    expect(changeable).toEqual(CHANGEABLE_SETTINGS.map((setting) => setting.name));
    // And the header says what the server needs for CHANGEABLE_IN_READONLY
    expect((await broker.operatorConfig(BOB, request.id, 'sql')).content).toContain('-- Needs ClickHouse 24.7 or later with access_control_improvements.settings_constraints_replace_previous = true');
  });

  it('covers exactly what byoc sends and the guard allows: every query setting is either changeable or pinned at that value', async () => {
    // Given the settings byoc's query runner sends (captured from the real runner)
    const sent: Record<string, string | number>[] = [];
    await runTagged(async (query) => sent.push(query.settings), { sql: 'SELECT 1', format: 'TabSeparated', queryId: 'q', maxRows: 10, timeoutMs: 5000, tags: { requestId: 'r-1', engineer: ALICE } });
    const changeable = new Set(CHANGEABLE_SETTINGS.map((setting) => setting.name));
    const pinned = new Map(PINNED_SETTINGS.map((setting) => [setting.name, setting.value]));
    // Then each is changeable, or pinned at exactly the value byoc sends (an unchanged value is never checked)
    for (const [name, value] of Object.entries(sent[0]!)) expect(changeable.has(name) || pinned.get(name) === value, name).toBe(true);
    // And every limit the guard lets a query set is changeable, except introspection (no limit, and not granted)
    for (const name of ALLOWED_SETTINGS) expect(changeable.has(name), name).toBe(name !== 'allow_introspection_functions');
    // And nothing else is: log_comment is the one non-limit
    expect([...changeable].filter((name) => !ALLOWED_SETTINGS.includes(name))).toEqual(['log_comment']);
    // And a numeric limit can never be set to 0 (no limit) or above its cap
    for (const setting of CHANGEABLE_SETTINGS.filter((entry) => entry.max !== undefined)) {
      expect(setting.min, setting.name).toBeGreaterThanOrEqual(1);
      if (setting.value !== undefined) expect(setting.value, setting.name).toBeLessThanOrEqual(setting.max!);
    }
  });

  it('keeps free text in comments: a newline in the identity, reason or ticket never becomes a statement', async () => {
    // Given an engineer identity, reason and ticket that try to end the comment and run SQL
    const { broker } = await setup();
    const identity = "o'brien\n; DROP USER default; --@vendor.example";
    const request = await approved(broker, identity, { reason: 'x\nDROP USER default;', ticket: "INC-1'\n;DROP USER default" });
    for (const format of ['sql', 'xml'] as const) {
      const { content } = await broker.operatorConfig(BOB, request.id, format);
      // Then the text appears escaped, on one line, and every SQL line outside comments is one of the three statements
      expect(content).toContain('"o\'brien\\n; DROP USER default; --@vendor.example"'.replace('--', format === 'xml' ? '-\\u002d' : '--'));
      expect(content).not.toContain('x\nDROP');
      if (format === 'sql') expect(statements(content).map((line) => line.split(' ')[0])).toEqual(['CREATE', 'REVOKE', 'GRANT']);
      // And an XML comment never holds "--"
      if (format === 'xml') for (const comment of content.match(/<!--([\s\S]*?)-->/g)!) expect(comment.slice(4, -3)).not.toContain('--');
    }
  });
});

describe('operator step: users.d XML', () => {
  it("matches the certificate by the request's subject_alt_name, never common_name, grants SELECT on system.* only", async () => {
    const { broker } = await setup();
    const request = await approved(broker);
    const config = await broker.operatorConfig(BOB, request.id, 'xml');
    expect(config).toMatchObject({ action: 'create', format: 'xml', file: `/etc/clickhouse-server/users.d/${config.user}.xml` });
    expect(config.content).toContain(`<subject_alt_name>URI:urn:byoc:request:${request.id}</subject_alt_name>`);
    expect(config.content).not.toContain('<common_name>');
    expect(config.content.match(/<query>[^<]*<\/query>/g)).toEqual(['<query>GRANT SELECT ON system.*</query>']);
    expect(config.content).not.toMatch(/allow_databases|information_schema/i);
    expect(config.content).toContain('<readonly>1</readonly>');
    expect(config.content).toContain('<readonly><const/></readonly>');
    expect(config.content).toContain('<log_comment><changeable_in_readonly/></log_comment>');
    expect(config.content).toContain('<max_execution_time><min>1</min><max>600</max><changeable_in_readonly/></max_execution_time>');
    // And the comment says when access ends and to delete the file at revoke or expiry
    expect(config.content).toContain('Access ends 2026-11-21 12:00:00 UTC');
    expect(config.content).toContain('delete this file at revoke or expiry');
  });
});

describe('operator step: removal', () => {
  it('renders DROP USER for a revoked request, saying who revoked it and when, and only for that grant', async () => {
    // Given two grants of alice, one revoked by carol
    const { broker, clock } = await setup();
    const revoked = await approved(broker);
    const other = await approved(broker);
    clock.advance(10 * 60_000);
    await broker.revoke(CAROL, revoked.id, 'done');
    // When the operator step is rendered for the revoked one
    const config = await broker.operatorConfig(BOB, revoked.id, 'sql');
    // Then it drops that request's user only, and says why
    expect(config).toMatchObject({ action: 'drop', status: 'revoked', user: serverUserFor(revoked.id, ALICE) });
    expect(statements(config.content)).toEqual([`DROP USER IF EXISTS ${serverUserFor(revoked.id, ALICE)};`, `KILL QUERY WHERE user = '${serverUserFor(revoked.id, ALICE)}' ASYNC;`]);
    expect(config.content).toContain('-- Revoked by "carol@vendor.example" at 2026-11-21T10:10:00.000Z.');
    expect(config.content).not.toContain(serverUserFor(other.id, ALICE));
    // And the other grant still renders its user
    expect((await broker.operatorConfig(BOB, other.id, 'sql')).action).toBe('create');
  });

  it('renders DROP USER for an expired grant, saying when it expired', async () => {
    const { broker, clock } = await setup();
    const request = await approved(broker);
    clock.advance(2 * HOUR);
    const config = await broker.operatorConfig(BOB, request.id, 'sql');
    expect(config).toMatchObject({ action: 'drop', status: 'expired', notAfter: '2026-11-21T12:00:00.000Z' });
    expect(statements(config.content)).toEqual([`DROP USER IF EXISTS ${config.user};`, `KILL QUERY WHERE user = '${config.user}' ASYNC;`]);
    expect(config.content).toContain('-- Expired at 2026-11-21T12:00:00.000Z');
  });

  it('in XML, names the file to delete and is itself a users.d document that defines nothing', async () => {
    const { broker } = await setup();
    const request = await approved(broker);
    await broker.revoke(ALICE, request.id);
    const config = await broker.operatorConfig(BOB, request.id, 'xml');
    expect(config).toMatchObject({ action: 'drop', file: `/etc/clickhouse-server/users.d/${config.user}.xml` });
    expect(config.content).toContain(`Delete ${config.file}.`);
    expect(config.content).toMatch(/<clickhouse>\s*<\/clickhouse>\s*$/);
    expect(config.content).not.toContain('<users>');
  });
});

describe('operator step: refusals', () => {
  it('refuses a pending request (exit 4), saying to wait for approval', async () => {
    const { broker } = await setup();
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    await expect(broker.operatorConfig(BOB, created.id, 'sql')).rejects.toMatchObject({ code: 'request_not_approved', exitCode: 4, hint: expect.stringContaining(`byoc access wait ${created.id}`) });
  });

  it('refuses a denied request (exit 4): no user was ever created', async () => {
    const { broker } = await setup();
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    await broker.deny(BOB, created.id, 'no');
    await expect(broker.operatorConfig(BOB, created.id, 'xml')).rejects.toMatchObject({ code: 'request_not_approved', exitCode: 4, message: expect.stringContaining('denied') });
  });

  it('refuses a request withdrawn or lapsed before approval (exit 4): there is nothing to remove', async () => {
    const { broker, clock } = await setup();
    const withdrawn = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    await broker.revoke(ALICE, withdrawn.id);
    const lapsed = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    clock.advance(2 * HOUR);
    for (const id of [withdrawn.id, lapsed.id]) {
      await expect(broker.operatorConfig(BOB, id, 'sql')).rejects.toMatchObject({ code: 'request_not_approved', exitCode: 4, message: expect.stringContaining('nothing to remove') });
    }
  });

  it('renders from the request alone (a pure function the broker and its HTTP API share)', () => {
    const request: AccessRequest = {
      id: 'r-0abc123xyz', service: 'acme-prod', scopes: ['clickhouse'], requester: ALICE, reason: 'x', duration: '1h', durationMs: HOUR, status: 'approved',
      reviews: [{ reviewer: BOB, decision: 'approve', at: '2026-11-21T10:00:00.000Z' }], approvalsRequired: 1, createdAt: '2026-11-21T10:00:00.000Z',
      pendingUntil: '2026-11-21T11:00:00.000Z', approvedAt: '2026-11-21T10:00:00.000Z', notAfter: '2026-11-21T11:00:00.000Z', certificates: [],
    };
    expect(renderOperatorConfig(request, 'sql').user).toBe('byoc_r_0abc123xyz_alice_40vendor_2eexample');
    expect(() => renderOperatorConfig({ ...request, status: 'pending' }, 'sql')).toThrow(/pending/);
  });
});
