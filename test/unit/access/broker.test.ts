import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../../src/access/policy.js';
import { clickhouseUserFor } from '../../../src/access/operator.js';
import { serverUserFor } from '../../../src/access/server-user.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { FakeClock } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const CAROL = 'carol@vendor.example';
const DAVE = 'dave@vendor.example';
const HOUR = 3_600_000;

async function setup(policy = {}) {
  const clock = new FakeClock();
  const { broker, warnings } = await openTestBroker(tempDir(), clock, policy);
  const request = (duration = '2h') => broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-1', duration });
  return { broker, clock, request, warnings };
}

async function csrFor(identity: string) {
  return createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: identity }]);
}

describe('policy', () => {
  it('layers defaults < global policy < service policy', () => {
    const policy = resolvePolicy({ approvers: ['a'], maxDuration: '4h' }, { approvals: 2 }, 'acme');
    expect(policy).toEqual({ approvers: ['a'], approvals: 2, maxDurationMs: 4 * HOUR, maxDuration: '4h', pendingTtlMs: HOUR });
  });
});

describe('the access lifecycle', () => {
  it('creates a pending request with the requester from the authenticated identity', async () => {
    const { request } = await setup();
    const created = await request();
    expect(created).toMatchObject({ status: 'pending', requester: ALICE, service: 'acme-prod', duration: '2h', scopes: ['clickhouse', 'kubernetes', 'metrics'], ticket: 'INC-1', approvalsRequired: 1 });
    expect(created.id).toMatch(/^r-[0-9a-z]{10}$/);
    expect(created.pendingUntil).toBe('2026-11-21T11:00:00.000Z');
  });

  it('approves by a designated approver, and the grant ends duration after the approval', async () => {
    const { broker, clock, request } = await setup();
    const created = await request('2h');
    clock.advance(10 * 60_000);
    const approved = await broker.approve(BOB, created.id, 'ok');
    expect(approved).toMatchObject({ status: 'approved', approvedAt: '2026-11-21T10:10:00.000Z', notAfter: '2026-11-21T12:10:00.000Z' });
    expect(approved.reviews).toEqual([{ reviewer: BOB, decision: 'approve', comment: 'ok', at: '2026-11-21T10:10:00.000Z' }]);
  });

  it('never lets a requester approve their own request, even when they are an approver', async () => {
    const { broker } = await setup({ approvers: [ALICE, BOB] });
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' });
    await expect(broker.approve(ALICE, created.id)).rejects.toMatchObject({ code: 'self_review', exitCode: 4 });
  });

  it('refuses approval and denial by a non-approver: as not found to one who cannot see it, 403 to an auditor', async () => {
    const { broker, request } = await setup();
    const created = await request();
    // Given dave, neither requester nor approver: the request does not exist for him
    await expect(broker.approve(DAVE, created.id)).rejects.toMatchObject({ code: 'request_not_found', exitCode: 2 });
    await expect(broker.deny(DAVE, created.id, 'no')).rejects.toMatchObject({ code: 'request_not_found' });
    // Given dave in the auditors group: he sees it, and is told he is no approver
    const auditor = { identity: DAVE, groups: ['auditors'] };
    await expect(broker.approve(auditor, created.id)).rejects.toMatchObject({ code: 'not_an_approver', hint: expect.stringContaining(BOB) });
    await expect(broker.deny(auditor, created.id, 'no')).rejects.toMatchObject({ code: 'not_an_approver' });
  });

  it('refuses a duration above the maximum, naming the maximum', async () => {
    const { request } = await setup({ maxDuration: '4h' });
    await expect(request('5h')).rejects.toMatchObject({ code: 'duration_exceeds_maximum', message: expect.stringContaining('maximum of 4h'), exitCode: 4 });
  });

  it('keeps the duration exactly as asked, and the grant lasts all of it', async () => {
    // Given a request for 1h30m10s
    const { broker, request } = await setup();
    const created = await request('1h30m10s');
    // Then it is stored as typed, not rounded to two units
    expect(created).toMatchObject({ duration: '1h30m10s', durationMs: 5_410_000 });
    // And the grant ends 1h30m10s after the approval
    const approved = await broker.approve(BOB, created.id);
    expect(approved.notAfter).toBe('2026-11-21T11:30:10.000Z');
    expect((await broker.get(ALICE, created.id)).duration).toBe('1h30m10s');
  });

  it.each(['500ms', '59s', '0s', '0.5m'])('refuses a %s grant as bad input (exit 2), naming the minimum and the maximum', async (duration) => {
    // Given a service whose maximum is 4h
    const { broker, request } = await setup({ maxDuration: '4h' });
    // When a grant shorter than a minute is asked for, Then it is refused before anything is stored
    await expect(request(duration)).rejects.toMatchObject({
      code: 'duration_too_short',
      exitCode: 2,
      message: `a grant must last at least 1m; ${duration} is shorter`,
      hint: 'Ask for --duration 1m or more, e.g. --duration 30m (at most 4h for acme-prod).',
    });
    expect(broker.requestCount).toBe(0);
  });

  it('accepts exactly the minimum of one minute', async () => {
    const { request } = await setup();
    await expect(request('60s')).resolves.toMatchObject({ duration: '60s', durationMs: 60_000 });
  });

  it('refuses what is not a duration, saying what one looks like', async () => {
    const { request } = await setup();
    await expect(request('2 hours')).rejects.toMatchObject({ code: 'invalid_duration', exitCode: 2, message: '"2 hours" is not a duration', hint: expect.stringContaining('--duration 30m, 2h or 1h30m') });
  });

  it('expires a pending request after its TTL, and refuses to approve it then', async () => {
    const { broker, clock, request } = await setup({ pendingTtl: '30m' });
    const created = await request();
    clock.advance(30 * 60_000);
    expect((await broker.get(BOB, created.id)).status).toBe('expired');
    await expect(broker.approve(BOB, created.id)).rejects.toMatchObject({ code: 'request_expired', message: expect.stringContaining('lapsed unreviewed') });
  });

  it('makes a denial final: no approval after it', async () => {
    const { broker, request } = await setup();
    const created = await request();
    await broker.deny(BOB, created.id, 'use the runbook');
    await expect(broker.approve(CAROL, created.id)).rejects.toMatchObject({ code: 'request_denied', hint: expect.stringContaining('final') });
  });

  it('requires a comment to deny', async () => {
    const { broker, request } = await setup();
    await expect(broker.deny(BOB, (await request()).id, '  ')).rejects.toMatchObject({ code: 'comment_required', exitCode: 2 });
  });

  it('counts each approver once when several approvals are required', async () => {
    const { broker, request } = await setup({ approvals: 2 });
    const created = await request();
    expect((await broker.approve(BOB, created.id)).status).toBe('pending');
    await expect(broker.approve(BOB, created.id)).rejects.toMatchObject({ code: 'already_reviewed' });
    expect((await broker.approve(CAROL, created.id)).status).toBe('approved');
  });

  it('computes expiry of a grant from the clock, never from stored state', async () => {
    const { broker, clock, request } = await setup();
    const created = await request('1h');
    await broker.approve(BOB, created.id);
    clock.advance(HOUR - 1);
    expect((await broker.get(ALICE, created.id)).status).toBe('approved');
    clock.advance(1);
    expect((await broker.get(ALICE, created.id)).status).toBe('expired');
  });

  it('lets the requester or an approver revoke, nobody else', async () => {
    const { broker, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    await expect(broker.revoke(DAVE, created.id)).rejects.toMatchObject({ code: 'request_not_found' });
    await expect(broker.revoke({ identity: DAVE, groups: ['auditors'] }, created.id)).rejects.toMatchObject({ code: 'not_allowed_to_revoke' });
    const revoked = await broker.revoke(CAROL, created.id, 'incident closed');
    expect(revoked).toMatchObject({ status: 'revoked', revokedBy: CAROL });
    await expect(broker.revoke(ALICE, created.id)).rejects.toMatchObject({ code: 'request_closed' });
  });

  it('lists mine / reviewable / by status', async () => {
    const { broker, request } = await setup();
    const first = await request();
    const second = await broker.create(BOB, { service: 'acme-prod', reason: 'y', duration: '1h' });
    expect((await broker.list(ALICE, { mine: true })).map((r) => r.id)).toEqual([first.id]);
    expect((await broker.list(CAROL, { reviewable: true })).map((r) => r.id).sort()).toEqual([first.id, second.id].sort());
    expect((await broker.list(BOB, { reviewable: true })).map((r) => r.id)).toEqual([first.id]);
    await broker.approve(BOB, first.id);
    expect((await broker.list(ALICE, { status: 'approved' })).map((r) => r.id)).toEqual([first.id]);
  });

  it('refuses unknown services and services with no approvers, as configuration problems', async () => {
    const { broker } = await setup();
    await expect(broker.create(ALICE, { service: 'nope', reason: 'x', duration: '1h' })).rejects.toMatchObject({ code: 'service_unknown', exitCode: 3 });
    const { broker: noApprovers } = await openTestBroker(tempDir(), new FakeClock(), { approvers: [] });
    await expect(noApprovers.create(ALICE, { service: 'acme-prod', reason: 'x', duration: '1h' })).rejects.toMatchObject({ code: 'no_approvers' });
  });
});

describe('certificates', () => {
  it('issues a certificate only to the requester of an approved request, bounded by the grant', async () => {
    const { broker, clock, request } = await setup();
    const created = await request('2h');
    await broker.approve(BOB, created.id);
    clock.advance(HOUR);
    const issued = await broker.issueCertificate(ALICE, created.id, await csrFor('anything-the-client-claims'));
    const certificate = new X509Certificate(issued.certificate);
    // CN is the authenticated identity, not what the CSR said
    expect(certificate.subject).toBe(`CN=${ALICE}\nOU=urn:byoc:request:${created.id}`);
    expect(certificate.subjectAltName).toBe(`URI:urn:byoc:request:${created.id}`);
    expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(new Date(certificate.validTo).getTime()).toBe(Date.parse('2026-11-21T12:00:00.000Z'));
    expect(new Date(certificate.validFrom).getTime()).toBe(Date.parse('2026-11-21T10:59:00.000Z'));
    expect(certificate.verify(new X509Certificate(issued.ca).publicKey)).toBe(true);
    expect((await broker.get(ALICE, created.id)).certificates).toHaveLength(1);
  });

  it.each([
    ['pending', async () => undefined, 'request_pending'],
    ['denied', async (b: Awaited<ReturnType<typeof setup>>, id: string) => void (await b.broker.deny(BOB, id, 'no')), 'request_denied'],
    ['revoked', async (b: Awaited<ReturnType<typeof setup>>, id: string) => { await b.broker.approve(BOB, id); await b.broker.revoke(ALICE, id); }, 'request_revoked'],
    ['expired', async (b: Awaited<ReturnType<typeof setup>>, id: string) => { await b.broker.approve(BOB, id); b.clock.advance(3 * HOUR); }, 'request_expired'],
  ])('refuses a certificate for a %s request', async (_label, arrange, code) => {
    const context = await setup();
    const created = await context.request('2h');
    await arrange(context, created.id);
    await expect(context.broker.issueCertificate(ALICE, created.id, await csrFor(ALICE))).rejects.toMatchObject({ code, exitCode: 4, hint: expect.any(String) });
  });

  it('refuses a certificate to anyone but the requester', async () => {
    const { broker, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    await expect(broker.issueCertificate(BOB, created.id, await csrFor(BOB))).rejects.toMatchObject({ code: 'not_requester' });
  });

  it('refuses a forged CSR whose signature does not verify', async () => {
    const { broker, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    const csr = await csrFor(ALICE);
    const lines = csr.split('\n');
    lines[3] = lines[3]!.slice(0, 10) + (lines[3]![10] === 'A' ? 'B' : 'A') + lines[3]!.slice(11);
    await expect(broker.issueCertificate(ALICE, created.id, lines.join('\n'))).rejects.toMatchObject({ code: 'invalid_csr' });
  });
});

describe('operator config', () => {
  it("renders the request's own user once approved, and refuses before", async () => {
    const { broker, request } = await setup();
    const created = await request();
    await expect(broker.operatorConfig(BOB, created.id, 'sql')).rejects.toMatchObject({ code: 'request_not_approved', exitCode: 4 });
    await broker.approve(BOB, created.id);
    const sql = await broker.operatorConfig(BOB, created.id, 'sql');
    expect(sql).toMatchObject({ action: 'create', user: serverUserFor(created.id, ALICE), commonName: ALICE });
    expect(sql.content).toContain(`CREATE USER IF NOT EXISTS ${sql.user} IDENTIFIED WITH ssl_certificate SAN 'URI:urn:byoc:request:${created.id}'`);
    expect(sql.content).toContain(`GRANT SELECT ON system.* TO ${sql.user};`);
    const xml = await broker.operatorConfig(BOB, created.id, 'xml');
    expect(xml.content).toContain(`<subject_alt_name>URI:urn:byoc:request:${created.id}</subject_alt_name>`);
    expect(xml.content).toContain('<readonly>1</readonly>');
  });

  it('renders the removal once revoked (details: test/unit/access/operator.test.ts)', async () => {
    const { broker, request } = await setup();
    const created = await request();
    await broker.approve(BOB, created.id);
    await broker.revoke(ALICE, created.id);
    expect(await broker.operatorConfig(BOB, created.id, 'sql')).toMatchObject({ action: 'drop', status: 'revoked' });
  });

  it('folds identities into safe ClickHouse user names', () => {
    expect(clickhouseUserFor("O'Brien.Team+x@Vendor.example")).toBe('byoc_o_brien_team_x_vendor_example');
  });
});
