/**
 * A team's day with a served broker, end to end (#16's "done when"): a real `byoc broker serve` process configured
 * with the loopback OpenID provider and two notification targets (a signed webhook, a Slack incoming webhook);
 * alice signs in with the browser flow, bob with the device flow; alice asks, both receivers are told, bob approves,
 * they are told again, alice's `byoc status` shows the grant, and `byoc logout` ends her session.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { serveIn } from './broker-serve-served.js';
import { loginWithBrowser, loginWithDevice, person } from '../support/oidc-people.js';
import { startTestProvider, type TestProvider } from '../support/oidc-provider.js';
import { signatureValid, startReceiver, type Received } from '../unit/notify/receiver.js';

const AUDIENCE = 'https://broker.vendor.example';
const SECRET = 'a-webhook-secret-of-32-characters';
const providers: TestProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});

/** The broker host: its own configuration (provider, policy, notifications) and state, as a process. */
async function brokerHost(issuer: string, clientId: string, webhook: string, slack: string): Promise<string> {
  const cwd = tempDir({
    'byoc.config.yaml': [
      'policy: { approvers: [bob@vendor.example] }',
      'services:',
      '  acme-prod: { notify: [oncall-slack, audit-hook] }',
      'broker:',
      `  oidc: { issuer: "${issuer}", clientId: ${clientId}, audience: "${AUDIENCE}", groupsClaim: groups, scopes: [openid, email, groups, offline_access] }`,
      'notify:',
      '  targets:',
      '    oncall-slack: { kind: slack, urlEnv: SLACK_ONCALL_WEBHOOK }',
      `    audit-hook: { kind: webhook, url: "${webhook}", secretEnv: BYOC_NOTIFY_SECRET }`,
      '',
    ].join('\n'),
  });
  return (await serveIn(cwd, { BYOC_STATE_DIR: tempDir(), SLACK_ONCALL_WEBHOOK: slack, BYOC_NOTIFY_SECRET: SECRET })).url;
}

const eventOf = (entry: Received) => entry.headers['x-byoc-event'];
const slackText = (entry: Received) => JSON.stringify(JSON.parse(entry.body));

describe('a team on a served broker with single sign-on and notifications', () => {
  it('login (both flows), request, webhook and Slack told, approval by a second signed-in user, status, logout', async () => {
    // Given the company's provider, a webhook receiver and a Slack-shaped receiver, and the broker host serving
    const idp = await startTestProvider({
      audience: AUDIENCE,
      deviceInterval: 1,
      accounts: { alice: { email: 'alice@vendor.example', groups: ['oncall'] }, bob: { email: 'bob@vendor.example', groups: ['approvers'] } },
    });
    providers.push(idp);
    const webhook = await startReceiver();
    const slack = await startReceiver();
    const url = await brokerHost(idp.issuer, idp.clientId, `${webhook.url}/byoc`, `${slack.url}/services/T0/B0/x`);
    // and the engineers' configuration naming only the broker
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: ${url} }\nservices: { acme-prod: {} }\n` });
    const alice = person(cwd);
    const bob = person(cwd);

    // When alice signs in with the browser and bob with the device flow
    expect((await loginWithBrowser(alice, 'alice')).exitCode).toBe(0);
    expect((await loginWithDevice(bob, 'bob')).exitCode).toBe(0);

    // and alice asks for access
    const asked = await alice.run(['access', 'request', 'acme-prod', '--reason', 'merges stuck on shard 2', '--ticket', 'INC-4711', '--duration', '1h', '--json']);
    expect(asked.exitCode, asked.stderr).toBe(8);
    const request = JSON.parse(asked.stdout) as { id: string; status: string; requester: string };
    expect(request).toMatchObject({ status: 'pending', requester: 'alice@vendor.example' });

    // Then both receivers are told of the new request: the webhook signed with the shared secret, Slack in Block Kit
    await Promise.all([webhook.until(1), slack.until(1)]);
    expect(eventOf(webhook.received[0]!)).toBe('created');
    expect(signatureValid(webhook.received[0]!, SECRET)).toBe(true);
    expect(JSON.parse(webhook.received[0]!.body)).toMatchObject({ event: 'created', request: { id: request.id, service: 'acme-prod', reason: 'merges stuck on shard 2', ticket: 'INC-4711' } });
    expect(slack.received[0]!.path).toBe('/services/T0/B0/x');
    expect(JSON.parse(slack.received[0]!.body)).toMatchObject({ blocks: expect.arrayContaining([expect.objectContaining({ type: 'section' })]) });
    expect(slackText(slack.received[0]!)).toContain(`byoc access approve ${request.id}`);

    // When bob, signed in through the device flow, approves it
    const approved = await bob.run(['access', 'approve', request.id, '--json']);
    expect(approved.exitCode, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ id: request.id, status: 'approved' });

    // Then both receivers are told of the approval
    await Promise.all([webhook.until(2), slack.until(2)]);
    expect(eventOf(webhook.received[1]!)).toBe('approved');
    expect(signatureValid(webhook.received[1]!, SECRET)).toBe(true);
    expect(slackText(slack.received[1]!)).toContain(request.id);

    // and alice's status says who she is, how she signed in, and the grant with its time left
    const status = await alice.run(['status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    const seen = JSON.parse(status.stdout) as { identity: string; signedIn: { via: string }; broker: { reachable: boolean }; grants: { id: string; remainingMs: number }[] };
    expect(seen).toMatchObject({ identity: 'alice@vendor.example', signedIn: { via: 'oidc' }, broker: { mode: 'served', reachable: true } });
    expect(seen.grants.map((grant) => grant.id)).toEqual([request.id]);
    expect(seen.grants[0]!.remainingMs).toBeGreaterThan(55 * 60_000);

    // When she logs out
    const out = await alice.run(['logout', '--json']);
    expect(out.exitCode, out.stderr).toBe(0);

    // Then her session is gone and the broker no longer knows her on this machine (exit 4, "run byoc login")
    expect(existsSync(path.join(alice.stateDir, 'auth', 'session.json'))).toBe(false);
    const after = await alice.run(['status']);
    expect(after.exitCode).toBe(4);
    expect(after.stderr).toContain('byoc login');
  }, 90_000);
});
