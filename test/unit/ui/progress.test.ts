import { setTimeout as delay } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerClient } from '../../../src/access/client.js';
import { embeddedClient } from '../../../src/access/open.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { main } from '../../../src/main.js';
import { createProgress } from '../../../src/ui/progress.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { startFakeClickHouse, type FakeClickHouse } from '../../fakes/clickhouse-server.js';
import { CapturedStream, FakeClock, testBase, testContext, type TestSetup } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { strictFake } from '../../fakes/strict-fake.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const ERASE_LINE = '\r\u001b[2K';
const slow = <T>(value: T, ms = 450) => delay(ms).then(() => value);
const fast = <T>(value: T) => delay(10).then(() => value);

// The spinner draws with ink, which the helper imports as a wait begins; a cold import under vitest's transform can
// outlast a short wait, so it is loaded once up front (a built byoc loads it in well under 300 ms).
beforeAll(async () => {
  await import('../../../src/ui/spinner.js');
});

describe('a progress spinner on stderr', () => {
  it('shows the label for a wait over 300 ms, animates it, and erases it when the wait ends', async () => {
    // Given a terminal on stderr
    const stderr = new CapturedStream(true, 80);
    const progress = createProgress({ stream: stderr, enabled: true, color: false });
    // When a slow wait is tracked (600 ms past the spinner's 300: several frames even on a loaded machine)
    expect(await progress.track('checking the path to acme-prod', slow('done', 900))).toBe('done');
    // Then the label was drawn, in more than one frame, and the last thing written erases the line
    expect(stderr.text).toContain('checking the path to acme-prod');
    expect(stderr.chunks.filter((chunk) => chunk.includes('checking the path')).length).toBeGreaterThan(1);
    expect(stderr.chunks.at(-1)).toBe(ERASE_LINE);
  });

  it('shows nothing for a wait under 300 ms', async () => {
    const stderr = new CapturedStream(true, 80);
    const progress = createProgress({ stream: stderr, enabled: true, color: false });
    expect(await progress.track('quick', fast(1))).toBe(1);
    // And nothing shows later either
    await delay(400);
    expect(stderr.text).toBe('');
  });

  it('writes nothing at all when disabled (stderr is a pipe, or --json)', async () => {
    const stderr = new CapturedStream(false, 80);
    const progress = createProgress({ stream: stderr, enabled: false, color: false });
    await progress.track('slow', slow(1));
    expect(stderr.text).toBe('');
  });

  it('passes a failure through and still erases the line', async () => {
    const stderr = new CapturedStream(true, 80);
    const progress = createProgress({ stream: stderr, enabled: true, color: false });
    await expect(progress.track('failing', slow(1).then(() => Promise.reject(new Error('boom'))))).rejects.toThrow('boom');
    expect(stderr.text).toContain('failing');
    expect(stderr.chunks.at(-1)).toBe(ERASE_LINE);
  });

  it('cuts a label wider than the terminal, so erasing the line erases all of it', async () => {
    const stderr = new CapturedStream(true, 30);
    const progress = createProgress({ stream: stderr, enabled: true, color: false });
    await progress.track('x'.repeat(200), slow(1));
    const frame = stderr.chunks.find((chunk) => chunk.includes('xxx'))!;
    expect(frame.replace(ERASE_LINE, '').length).toBeLessThan(30);
  });
});

describe('the context progress', () => {
  it('keeps warnings whole above the spinner', async () => {
    // Given a terminal on stderr, When a warning is logged while a spinner shows
    const { ctx, stderr } = testContext({ stderrTTY: true });
    await ctx.progress('waiting', delay(400).then(() => ctx.log.warn('the broker is slow')).then(() => delay(150)));
    // Then the warning is on a line of its own, written after the spinner line was erased, and the spinner ends erased
    const warning = stderr.chunks.findIndex((chunk) => chunk.includes('warning: the broker is slow'));
    expect(stderr.chunks[warning]).toBe(`${ERASE_LINE}warning: the broker is slow\n`);
    expect(stderr.chunks.slice(0, warning).some((chunk) => chunk.includes('waiting'))).toBe(true);
    expect(stderr.chunks.at(-1)).toBe(ERASE_LINE);
  });

  it('shows nothing with --json, nor on a piped stderr', async () => {
    const json = testContext({ stderrTTY: true, json: true });
    await json.ctx.progress('slow', slow(1));
    expect(json.stderr.text).toBe('');
    const piped = testContext({ stderrTTY: false });
    await piped.ctx.progress('slow', slow(1));
    expect(piped.stderr.text).toBe('');
  });
});

/** Runs the CLI with every write to stdout and stderr recorded in one timeline. */
async function timeline(argv: string[], setup: TestSetup) {
  const harness = testBase(setup);
  const events: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = harness[name];
    const write = stream.write.bind(stream);
    stream.write = (chunk) => {
      events.push({ stream: name, text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
      return write(chunk);
    };
  }
  const exitCode = await main(argv, harness.base);
  return { exitCode, events, stdout: harness.stdout.text, stderr: harness.stderr.text };
}

/** The spinner was drawn with `label`, and erased before the first byte of the result. */
function expectSpinnerBeforeResult(events: { stream: string; text: string }[], label: string) {
  const firstOut = events.findIndex((event) => event.stream === 'stdout');
  expect(firstOut).toBeGreaterThan(0);
  const before = events.slice(0, firstOut).filter((event) => event.stream === 'stderr');
  expect(before.some((event) => event.text.includes(label))).toBe(true);
  expect(before.at(-1)!.text).toBe(ERASE_LINE);
  expect(events.slice(firstOut).some((event) => event.stream === 'stderr' && event.text.includes(label))).toBe(false);
}

describe('commands that wait', () => {
  const CH_HOST = 'ch.acme.example';
  let slowClickHouse: FakeClickHouse;
  beforeAll(async () => {
    const ca = await testBrokerCa();
    const { certPem, keyPem } = await testServerKeys([CH_HOST]);
    slowClickHouse = await startFakeClickHouse({
      certPem,
      keyPem,
      clientCa: ca.certPem,
      answerDelayMs: 500,
      answer: () => ({ names: ['database', 'table'], types: ['String', 'String'], rows: [['system', 'merges']] }),
    });
  });
  afterAll(() => slowClickHouse.close());

  function tailnet(delayMs: number) {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'byoc.config.yaml'), 'services:\n  acme-prod:\n    clickhouse: { url: "https://ch.abc123.us-east-1.aws.byoc.example.com:8443" }\n');
    // Tailscale is down, after a while: the check ends at once with that verdict, so only the wait is measured.
    const runner = new ScriptedRunner([{ match: /^status --json$/, stdout: tailscaleFixture('status-stopped.json'), delayMs }]);
    return { cwd, clients: { tailscale: async () => runner } };
  }

  it('connect check: a slow check shows the spinner on a terminal, erased before the result', async () => {
    const { events, stdout } = await timeline(['connect', 'check', 'acme-prod'], { ...tailnet(450), stdoutTTY: true, stderrTTY: true });
    expectSpinnerBeforeResult(events, 'checking the path to acme-prod');
    expect(stdout).toContain('acme-prod');
  });

  it('connect check: a quick check, a piped stderr or --json show no spinner and no control characters', async () => {
    const quick = await timeline(['connect', 'check', 'acme-prod'], { ...tailnet(0), stdoutTTY: true, stderrTTY: true });
    expect(quick.stderr).not.toContain('checking the path');
    const piped = await timeline(['connect', 'check', 'acme-prod'], { ...tailnet(450), stdoutTTY: true, stderrTTY: false });
    expect(piped.stderr).not.toContain('checking the path');
    expect(piped.stderr).not.toContain('\u001b');
    const json = await timeline(['connect', 'check', 'acme-prod', '--json'], { ...tailnet(450), stderrTTY: true });
    expect(json.stderr).not.toContain('checking the path');
  });

  it('doctor: a slow chain shows the spinner, erased before the report', async () => {
    const { events } = await timeline(['doctor', 'acme-prod'], { ...tailnet(450), env: { BYOC_USER: 'alice@vendor.example', BYOC_STATE_DIR: tempDir() }, stdoutTTY: true, stderrTTY: true });
    expectSpinnerBeforeResult(events, 'checking the chain to acme-prod');
  });

  it('query: the spinner shows until the first row, then the rows print', async () => {
    // Given approved access to a ClickHouse that takes 500 ms to answer
    const stateDir = tempDir();
    const { broker } = await openTestBroker(stateDir, new FakeClock(new Date()));
    const request = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', duration: '2h' });
    await broker.approve('bob@vendor.example', request.id);
    const cwd = tempDir({ 'ca.pem': (await testBrokerCa()).certPem });
    writeFileSync(
      path.join(cwd, 'byoc.config.yaml'),
      `network:\n  resolve: { ${CH_HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${slowClickHouse.port}", caFile: ./ca.pem }\n`,
    );
    const setup = { cwd, clock: new FakeClock(new Date()), env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } };
    // When a query runs on a terminal
    const tty = await timeline(['query', 'acme-prod', 'SELECT database, table FROM system.merges'], { ...setup, stdoutTTY: true, stderrTTY: true });
    // Then the spinner showed and was erased before the table
    expect(tty.exitCode).toBe(0);
    expectSpinnerBeforeResult(tty.events, 'querying acme-prod');
    expect(tty.stdout).toMatch(/system\s+merges/);
    // When stderr is a pipe, Then it carries nothing of the spinner
    const piped = await timeline(['query', 'acme-prod', 'SELECT database, table FROM system.merges'], { ...setup, stdoutTTY: true, stderrTTY: false });
    expect(piped.stderr).toBe('');
  });
});

describe('access wait', () => {
  const pending: AccessRequest = {
    id: 'r-0000000001',
    service: 'acme-prod',
    scopes: ['clickhouse'],
    requester: 'alice@vendor.example',
    reason: 'merges stuck',
    duration: '2h',
    durationMs: 7_200_000,
    status: 'pending',
    reviews: [],
    approvalsRequired: 1,
    createdAt: '2026-11-21T10:00:00.000Z',
    pendingUntil: '2026-11-21T11:00:00.000Z',
    certificates: [],
  };
  const approved: AccessRequest = { ...pending, status: 'approved', approvedAt: '2026-11-21T10:00:04.000Z', notAfter: '2026-11-21T12:00:04.000Z' };

  it('shows its spinner on a terminal, and none with --json', async () => {
    const broker = () => {
      let polls = 0;
      return strictFake<BrokerClient>({ get: async () => (++polls >= 3 ? approved : pending) }, 'broker');
    };
    const tty = await timeline(['access', 'wait', 'r-0000000001'], { stderrTTY: true, stdoutTTY: true, clients: { broker: async () => broker() } });
    expect(tty.stderr).toContain('waiting for approval of r-0000000001');
    const json = await timeline(['access', 'wait', 'r-0000000001', '--json'], { stderrTTY: true, clients: { broker: async () => broker() } });
    expect(json.exitCode).toBe(0);
    expect(json.stderr).not.toContain('\u001b');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'approved' });
  });
});
