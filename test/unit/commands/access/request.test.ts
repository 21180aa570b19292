import { describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../../src/access/client.js';
import type { AccessRequest } from '../../../../src/access/types.js';
import { embeddedClient } from '../../../../src/access/open.js';
import { openTestBroker } from '../../../fakes/broker.js';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { strictFake } from '../../../fakes/strict-fake.js';
import { tempDir } from '../../../fakes/fs.js';

const pending: AccessRequest = {
  id: 'r-0000000001',
  service: 'acme-prod',
  scopes: ['clickhouse'],
  requester: 'alice@vendor.example',
  reason: 'merges stuck',
  ticket: 'INC-42',
  duration: '2h',
  durationMs: 7_200_000,
  status: 'pending',
  reviews: [],
  approvalsRequired: 1,
  createdAt: '2026-11-21T10:00:00.000Z',
  pendingUntil: '2026-11-21T11:00:00.000Z',
  certificates: [],
};
const approved: AccessRequest = {
  ...pending,
  status: 'approved',
  approvedAt: '2026-11-21T10:00:04.000Z',
  notAfter: '2026-11-21T12:00:04.000Z',
  reviews: [{ reviewer: 'bob@vendor.example', decision: 'approve', at: '2026-11-21T10:00:04.000Z' }],
};

const cwd = () => tempDir();

describe('byoc access request', () => {
  it('sends the request and exits 8 when piped (no wait by default)', async () => {
    // Given a broker that accepts the request
    const broker = strictFake<BrokerClient>({ create: async () => pending }, 'broker');
    // When the command runs without a TTY
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'merges stuck', '--ticket', 'INC-42', '--duration', '2h', '--scope', 'clickhouse', '--json'], { cwd: cwd(), clients: { broker: async () => broker } });
    // Then the request is sent as given and printed, and the exit code says pending
    expect(broker.calls.create).toEqual([[{ service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-42', duration: '2h', scopes: ['clickhouse'] }]]);
    expect(JSON.parse(result.stdout)).toMatchObject({ id: 'r-0000000001', status: 'pending' });
    expect(result.exitCode).toBe(8);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'request_pending', hint: 'Wait for the decision: byoc access wait r-0000000001' });
    broker.assertAllCalled();
  });

  it('refuses to send a request without a reason (exit 2), naming the flag', async () => {
    const broker = strictFake<BrokerClient>({}, 'broker');
    const result = await runCli(['access', 'request', 'acme-prod'], { cwd: cwd(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--reason');
  });

  it('takes the reason and duration from BYOC_* variables, the duration as typed', async () => {
    const broker = strictFake<BrokerClient>({ create: async () => pending }, 'broker');
    await runCli(['access', 'request', 'acme-prod'], { cwd: cwd(), env: { BYOC_REASON: 'from env', BYOC_DURATION: '90m' }, clients: { broker: async () => broker } });
    expect(broker.calls.create![0]![0]).toMatchObject({ reason: 'from env', duration: '90m' });
  });

  it('keeps --duration 1h30m10s as asked: stored, printed and shown later exactly so', async () => {
    // Given the embedded broker
    const stateDir = tempDir();
    const { broker } = await openTestBroker(stateDir, new FakeClock());
    const setup = { cwd: cwd(), env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
    // When alice asks for 1h30m10s
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'x', '--duration', '1h30m10s', '--json'], setup);
    // Then the request holds what she typed, to the second
    const created = JSON.parse(result.stdout);
    expect(created).toMatchObject({ duration: '1h30m10s', durationMs: 5_410_000 });
    // And access show prints it the same way
    const shown = await runCli(['access', 'show', created.id], setup);
    expect(shown.stdout).toContain('duration\t1h30m10s');
  });

  it.each([
    ['0s', 'a grant must last at least 1m; 0s is shorter'],
    ['500ms', 'a grant must last at least 1m; 500ms is shorter'],
  ])('refuses --duration %s with exit 2, naming the minimum and what to ask for instead', async (duration, message) => {
    // Given the embedded broker with its default maximum (8h)
    const stateDir = tempDir();
    const { broker } = await openTestBroker(stateDir, new FakeClock());
    // When alice asks for less than a minute
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'x', '--duration', duration], {
      cwd: cwd(),
      env: { BYOC_STATE_DIR: stateDir },
      clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) },
    });
    // Then nothing is stored and the refusal says why and what to do
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`error: ${message}`);
    expect(result.stderr).toContain('hint: Ask for --duration 1m or more, e.g. --duration 30m (at most 8h for acme-prod).');
    expect(broker.requestCount).toBe(0);
  });

  it('refuses a --duration that is not one before calling the broker, with an example and the real command in the hint', async () => {
    const broker = strictFake<BrokerClient>({}, 'broker');
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'x', '--duration', '2 hours'], { cwd: cwd(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--duration: expected a duration such as 30s, 15m, 8h or 1h30m; got "2 hours"');
    expect(result.stderr).toContain("hint: For example: --duration 1h (the default); see 'byoc access request --help' for --duration (or set BYOC_DURATION).");
    expect(result.stderr).not.toContain('<command>');
  });

  it('waits on a TTY with a spinner on stderr until approval, then exits 0', async () => {
    // Given a broker that approves on the second poll
    let polls = 0;
    const broker = strictFake<BrokerClient>({ create: async () => pending, get: async () => (++polls >= 2 ? approved : pending) }, 'broker');
    // When the command runs on a terminal
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'merges stuck'], { cwd: cwd(), stdoutTTY: true, stderrTTY: true, clients: { broker: async () => broker } });
    // Then the spinner showed time pending and time to lapse, and the approved request is printed
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('waiting for approval of r-0000000001');
    expect(result.stderr).toMatch(/lapses in \d+m/);
    expect(result.stdout).toContain('approved');
    expect(result.stdout).toContain('bob@vendor.example');
    broker.assertAllCalled();
  });

  it('--wait when piped waits too, says so once on stderr, and exits 4 on denial', async () => {
    const denied: AccessRequest = { ...pending, status: 'denied', reviews: [{ reviewer: 'bob@vendor.example', decision: 'deny', comment: 'not now', at: pending.createdAt }] };
    const broker = strictFake<BrokerClient>({ create: async () => pending, get: async () => denied }, 'broker');
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'x', '--wait'], { cwd: cwd(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('waiting for approval of r-0000000001');
    expect(result.stderr).toContain('denied by bob@vendor.example: not now');
    expect(result.stdout).toContain('status\tdenied');
  });

  it('--no-wait on a TTY returns at once with exit 8', async () => {
    const broker = strictFake<BrokerClient>({ create: async () => pending }, 'broker');
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'x', '--no-wait'], { cwd: cwd(), stdoutTTY: true, stderrTTY: true, clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(8);
    expect(result.stdout).toContain('pending');
  });
});

describe('byoc access wait', () => {
  it('gives up after --timeout with exit 8 (still pending)', async () => {
    const broker = strictFake<BrokerClient>({ get: async () => pending }, 'broker');
    const result = await runCli(['access', 'wait', 'r-0000000001', '--timeout', '10s'], { cwd: cwd(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(8);
    // 1 initial read + one poll every 2 s over 10 s
    expect(broker.calls.get!.length).toBe(6);
  });

  it('exits 4 when the request lapses unreviewed', async () => {
    const lapsed: AccessRequest = { ...pending, status: 'expired' };
    const broker = strictFake<BrokerClient>({ get: async () => lapsed }, 'broker');
    const result = await runCli(['access', 'wait', 'r-0000000001'], { cwd: cwd(), clients: { broker: async () => broker } });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('lapsed unreviewed');
  });
});

describe('byoc access list', () => {
  const broker = () => strictFake<BrokerClient>({ list: async () => [approved, pending] }, 'broker');

  it('prints tab-separated rows with ISO times when piped', async () => {
    const result = await runCli(['access', 'list', '--mine'], { cwd: cwd(), clients: { broker: async () => broker() } });
    expect(result.stdout.split('\n')[0]).toBe('r-0000000001\tapproved\tacme-prod\talice@vendor.example\t2026-11-21T10:00:00.000Z\t2026-11-21T12:00:04.000Z\tINC-42\tmerges stuck');
  });

  it('shows a table with relative times on a TTY', async () => {
    const result = await runCli(['access', 'list'], { cwd: cwd(), stdoutTTY: true, clients: { broker: async () => broker() } });
    expect(result.stdout).toMatch(/ID\s+STATUS\s+SERVICE/);
    expect(result.stdout).toMatch(/approved\s+acme-prod\s+alice@vendor\.example\s+now\s+in 2h/);
  });

  it('passes the filters and prints {requests} under --json', async () => {
    const fake = broker();
    const result = await runCli(['access', 'list', '--reviewable', '--status', 'pending', '--json'], { cwd: cwd(), clients: { broker: async () => fake } });
    expect(fake.calls.list).toEqual([[{ reviewable: true, status: 'pending' }]]);
    expect(JSON.parse(result.stdout).requests).toHaveLength(2);
  });

  it('refuses --mine with --reviewable (exit 2)', async () => {
    const result = await runCli(['access', 'list', '--mine', '--reviewable'], { cwd: cwd(), clients: { broker: async () => strictFake<BrokerClient>({}) } });
    expect(result.exitCode).toBe(2);
  });
});
