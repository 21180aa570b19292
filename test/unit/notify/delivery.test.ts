import { spawnSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { notifierFor, openBroker } from '../../../src/access/open.js';
import { FakeClock, runCli, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { freePort, GatedClock, signatureValid, startReceiver, type Received } from './receiver.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const SECRET = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';
const AUDIT_SECRET = 'ffeeddccbbaa99887766554433221100';

/** A broker opened as the CLI opens it, with the notify section given (the secret and Slack URL from variables). */
async function brokerWith(notify: string, env: Record<string, string> = {}, clock: FakeClock = new FakeClock(new Date()), routes = 'oncall, chat') {
  const cwd = tempDir({
    'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices:\n  acme-prod: { notify: [${routes}] }\n  acme-lab: {}\n${notify}`,
    'audit.secret': `${AUDIT_SECRET}\n`,
  });
  const stateDir = tempDir();
  const harness = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir, HOOK_SECRET: SECRET, ...env }, clock });
  const configuration = await harness.ctx.config();
  const notifier = await notifierFor(harness.ctx, configuration, 'served');
  const broker = await openBroker(harness.ctx, configuration, notifier ? { notifier } : {});
  return { broker, notifier: notifier!, stderr: () => harness.stderr.text, stateDir };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document whose shape the assertions themselves check
type Json = Record<string, any>;
const json = (entry: Received) => JSON.parse(entry.body) as Json;

describe('webhook notifications', () => {
  it('posts each decision, signed with HMAC-SHA256 over the timestamp and the exact body', async () => {
    // Given a webhook target for acme-prod (and a Slack one, whose receiver answers too)
    const hook = await startReceiver();
    const slack = await startReceiver();
    const { broker } = await brokerWith(
      `notify:\n  targets:\n    oncall: { kind: webhook, url: "${hook.url}/byoc", secretEnv: HOOK_SECRET }\n    chat: { kind: slack, urlEnv: SLACK_URL }\n  reviewUrl: "https://byoc.example/requests/{id}"\n`,
      { SLACK_URL: `${slack.url}/services/T0/B0/x` },
    );
    // When alice asks, bob approves, and alice revokes; then a second request is denied
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-42', duration: '2h' });
    await hook.until(1);
    await broker.approve(BOB, created.id, 'go');
    await hook.until(2);
    await broker.revoke(ALICE, created.id);
    await hook.until(3);
    const second = await broker.create(ALICE, { service: 'acme-prod', reason: 'again', duration: '1h' });
    await hook.until(4);
    await broker.deny(BOB, second.id, 'not now');
    await hook.until(5);
    // Then the receiver got five signed JSON posts, in order, that it can verify with the shared secret alone
    expect(hook.received.map((entry) => entry.headers['x-byoc-event'])).toEqual(['created', 'approved', 'revoked', 'created', 'denied']);
    for (const entry of hook.received) {
      expect(entry.path).toBe('/byoc');
      expect(entry.headers['content-type']).toBe('application/json');
      expect(entry.headers['user-agent']).toBe('byoc/0.0.0-test');
      expect(entry.headers['x-byoc-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(signatureValid(entry, SECRET)).toBe(true);
      // a different secret, or a body changed by one byte, does not verify
      expect(signatureValid(entry, `${SECRET}x`)).toBe(false);
      expect(signatureValid({ ...entry, body: entry.body.replace('"version":1', '"version":2') }, SECRET)).toBe(false);
      // the timestamp is the sending time (Unix seconds), within the signed bytes
      expect(Number(entry.headers['x-byoc-timestamp'])).toBeCloseTo(Date.now() / 1000, -1);
      expect(json(entry).deliveryId).toBe(entry.headers['x-byoc-delivery']);
    }
    // and openssl, as the README shows, computes the same signature from the timestamp and the saved body
    const sample = hook.received[1]!;
    const openssl = spawnSync('openssl', ['dgst', '-sha256', '-hmac', SECRET], { input: `${String(sample.headers['x-byoc-timestamp'])}.${sample.body}`, encoding: 'utf8' });
    expect(openssl.stdout.trim().split('= ')[1]).toBe(String(sample.headers['x-byoc-signature']).slice('sha256='.length));
    const [first, approval, revocation, , denial] = hook.received.map(json);
    expect(first).toMatchObject({
      version: 1,
      event: 'created',
      actor: ALICE,
      request: { id: created.id, service: 'acme-prod', requester: ALICE, reason: 'merges stuck', ticket: 'INC-42', duration: '2h', status: 'pending' },
      commands: { approve: `byoc access approve ${created.id}`, show: `byoc access show ${created.id}` },
      link: `https://byoc.example/requests/${created.id}`,
    });
    expect(approval).toMatchObject({ event: 'approved', actor: BOB, request: { status: 'approved', notAfter: expect.any(String) }, commands: { show: `byoc access show ${created.id}` } });
    expect(approval!.commands.approve).toBeUndefined();
    expect(revocation).toMatchObject({ event: 'revoked', actor: ALICE, request: { status: 'revoked' } });
    expect(denial).toMatchObject({ event: 'denied', actor: BOB, request: { id: second.id, status: 'denied' } });
    // and the Slack target got the same five
    await slack.until(5);
  });

  it('sends a Slack target an incoming-webhook message in Block Kit, with the text a requester wrote escaped', async () => {
    // Given a Slack target (its URL from a variable) and a review link
    const slack = await startReceiver({ status: () => 200 });
    const hook = await startReceiver();
    const { broker } = await brokerWith(
      `notify:\n  targets:\n    oncall: { kind: webhook, url: "${hook.url}", secretEnv: HOOK_SECRET }\n    chat: { kind: slack, urlEnv: SLACK_URL }\n  reviewUrl: "https://byoc.example/requests/{id}"\n`,
      { SLACK_URL: `${slack.url}/services/T0/B0/x` },
    );
    // When alice asks with a reason that tries to ping the channel
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'db <!channel> & <https://evil.example|INC-1>', ticket: 'INC-7', duration: '30m' });
    await slack.until(1);
    // Then the message is Block Kit: a fallback text, then sections, a context and an actions block
    const entry = slack.received[0]!;
    expect(entry.path).toBe('/services/T0/B0/x');
    expect(entry.headers['x-byoc-signature']).toBeUndefined();
    const message = json(entry);
    expect(typeof message.text).toBe('string');
    const blocks = message.blocks as Json[];
    expect(blocks.map((block) => block.type)).toEqual(['section', 'section', 'section', 'context', 'actions']);
    const textObjects = [
      blocks[0]!.text,
      ...blocks[1]!.fields,
      blocks[2]!.text,
      ...blocks[3]!.elements,
      blocks[4]!.elements[0].text,
    ];
    for (const object of textObjects) {
      expect(['mrkdwn', 'plain_text']).toContain(object.type);
      expect(typeof object.text).toBe('string');
    }
    expect(blocks[1]!.fields.length).toBeLessThanOrEqual(10);
    const fields = (blocks[1]!.fields as { text: string }[]).map((field) => field.text).join('\n');
    for (const shown of [created.id, 'acme-prod', ALICE, '30m', 'pending', 'INC-7']) expect(fields).toContain(shown);
    expect(blocks[2]!.text.text).toBe('*Reason*\ndb &lt;!channel&gt; &amp; &lt;https://evil.example|INC-1&gt;');
    expect(blocks[3]!.elements[0].text).toContain(`\`byoc access approve ${created.id}\``);
    expect(blocks[3]!.elements[0].text).toContain(`\`byoc access show ${created.id}\``);
    expect(blocks[4]!.elements[0]).toMatchObject({ type: 'button', url: `https://byoc.example/requests/${created.id}`, text: { type: 'plain_text' } });
    expect(blocks[4]!.elements[0].text.text.length).toBeLessThanOrEqual(75);
    expect(JSON.stringify(message)).not.toContain('<!channel>');
  });

  it('routes a request only to its service targets, and other services to the default list', async () => {
    // Given acme-prod routed to oncall (and chat), anything else to audit by default
    const oncall = await startReceiver();
    const audit = await startReceiver();
    const slack = await startReceiver();
    const { broker } = await brokerWith(
      `notify:\n  targets:\n    oncall: { kind: webhook, url: "${oncall.url}", secretEnv: HOOK_SECRET }\n    chat: { kind: slack, urlEnv: SLACK_URL }\n    audit: { kind: webhook, url: "${audit.url}", secretFile: audit.secret, events: [created] }\n  default: [audit]\n`,
      { SLACK_URL: slack.url },
    );
    // When one request is made for each service, and the acme-lab one is approved
    const prod = await broker.create(ALICE, { service: 'acme-prod', reason: 'prod', duration: '1h' });
    const lab = await broker.create(ALICE, { service: 'acme-lab', reason: 'lab', duration: '1h' });
    await broker.approve(BOB, lab.id);
    await Promise.all([oncall.until(1), slack.until(1), audit.until(1)]);
    // (give a wrongly routed delivery the time to arrive)
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Then oncall and chat heard of acme-prod only; audit of acme-lab only, and only of its creation (its events filter)
    expect(oncall.received.map((entry) => json(entry).request.id)).toEqual([prod.id]);
    expect(slack.received).toHaveLength(1);
    expect(audit.received.map((entry) => [json(entry).event, json(entry).request.id])).toEqual([['created', lab.id]]);
    expect(signatureValid(audit.received[0]!, AUDIT_SECRET)).toBe(true);
  });

  it('never holds up a decision: a receiver that is down is retried with backoff, logged, and gets the notice when it is up', async () => {
    // Given a webhook target on a port where nothing listens yet, and time that moves only when told
    const port = await freePort();
    const clock = new GatedClock(new Date());
    const { broker, stderr } = await brokerWith(`notify:\n  targets:\n    oncall: { kind: webhook, url: "http://127.0.0.1:${port}/hook", secretEnv: HOOK_SECRET }\n`, {}, clock, 'oncall');
    // When alice asks: the decision answers at once
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'incident', duration: '1h' });
    expect(created.status).toBe('pending');
    // Then the first attempt fails, is logged, and a retry waits (about a second: backoff with jitter)
    const wait = await clock.nextSleep();
    expect(wait).toBeGreaterThanOrEqual(500);
    expect(wait).toBeLessThanOrEqual(1000);
    expect(stderr()).toMatch(new RegExp(`warning: notify: delivering created ${created.id} to oncall failed \\(attempt 1 of 6: .*ECONNREFUSED.*\\); retrying in`));
    // And meanwhile bob's approval is not held up either
    await expect(broker.approve(BOB, created.id)).resolves.toMatchObject({ status: 'approved' });
    // When the receiver comes up and the retries are due
    const receiver = await startReceiver({ port });
    while (receiver.received.length < 2) {
      await clock.nextSleep();
      clock.wake();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Then both notices arrive, signed; the retried one with the delivery id it was first given
    const events = receiver.received.map((entry) => entry.headers['x-byoc-event']).sort();
    expect(events).toEqual(['approved', 'created']);
    for (const entry of receiver.received) expect(signatureValid(entry, SECRET)).toBe(true);
    expect(stderr()).not.toContain('gave up');
  });

  it('gives up after a bounded number of attempts at a receiver that keeps answering 500, and says so', async () => {
    // Given a receiver that always fails
    const receiver = await startReceiver({ status: () => 500 });
    const clock = new GatedClock(new Date());
    const { broker, stderr } = await brokerWith(`notify:\n  targets:\n    oncall: { kind: webhook, url: "${receiver.url}", secretEnv: HOOK_SECRET }\n`, {}, clock, 'oncall');
    // When a request is made
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'incident', duration: '1h' });
    // Then each failure waits longer than the one before (exponential backoff), up to six attempts
    const waits: number[] = [];
    for (let retry = 1; retry <= 5; retry++) {
      waits.push(await clock.nextSleep());
      clock.wake();
    }
    await vi.waitFor(() => expect(stderr()).toContain('gave up'));
    expect(receiver.received).toHaveLength(6);
    waits.forEach((wait, index) => {
      const step = 1000 * 2 ** index;
      expect(wait).toBeGreaterThanOrEqual(step / 2);
      expect(wait).toBeLessThanOrEqual(step);
    });
    expect(stderr()).toContain(`warning: notify: gave up delivering created ${created.id} to oncall (after 6 attempts): HTTP 500 receiver error`);
    expect(stderr().match(/failed \(attempt \d of 6: HTTP 500/g)).toHaveLength(5);
    expect(clock.sleepers).toBe(0);
  });

  it('is sent by the command itself on the embedded broker (byoc access request), which waits a bounded time for it', async () => {
    // Given an embedded broker configured with a webhook target, and no served broker
    const receiver = await startReceiver();
    const cwd = tempDir({
      'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\nnotify:\n  targets:\n    hook: { kind: webhook, url: "${receiver.url}", secretEnv: HOOK_SECRET }\n  default: [hook]\n`,
    });
    // When alice asks from the command line
    const result = await runCli(['access', 'request', 'acme-prod', '--reason', 'disk pressure', '--no-wait', '--json'], {
      cwd,
      env: { BYOC_STATE_DIR: tempDir(), BYOC_USER: ALICE, HOOK_SECRET: SECRET },
    });
    // Then the request is made (pending: exit 8 under --no-wait), and the receiver gets the signed notice of its creation
    expect(result.exitCode).toBe(8);
    const id = /"(r-[0-9a-z]{10})"/.exec(result.stdout + result.stderr)?.[1];
    expect(id).toBeDefined();
    await receiver.until(1);
    expect(json(receiver.received[0]!)).toMatchObject({ event: 'created', request: { id, requester: ALICE } });
    expect(signatureValid(receiver.received[0]!, SECRET)).toBe(true);
  });
});
