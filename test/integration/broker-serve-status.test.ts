import { describe, expect, it } from 'vitest';
import { tempDir } from '../fakes/fs.js';
import { ALICE, byocIn, startServedBroker } from './broker-serve-served.js';

describe('byoc status against a real served broker', () => {
  it('shows the token identity, the reachable broker and the approved grant; without a token it exits 4', async () => {
    // Given a served broker where alice's request was approved by bob (over the raw API)
    const { url, token, bobToken, served } = await startServedBroker();
    const call = async (route: string, bearer: string, body: unknown) => {
      const response = await fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify(body) });
      expect(response.ok).toBe(true);
      return (await response.json()) as { id: string; notAfter?: string };
    };
    const created = await call('/v1/requests', token, { service: 'acme-prod', reason: 'merges stuck', duration: '2h' });
    const approved = await call(`/v1/requests/${created.id}/approve`, bobToken, {});
    const client = { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir(), BYOC_BROKER_URL: url } };
    // When alice asks where she stands with her token
    const result = await byocIn(client.cwd, { ...client.env, BYOC_TOKEN: token }, ['status', '--json']);
    // Then the broker vouches for her identity, is reachable, and her grant has its time left
    expect(result.exitCode, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({
      identity: ALICE,
      signedIn: { via: 'token', source: 'BYOC_TOKEN' },
      broker: { mode: 'served', location: url, reachable: true },
      grants: [{ id: created.id, service: 'acme-prod', notAfter: approved.notAfter }],
      certificates: [],
    });
    expect(status.broker.latencyMs).toBeGreaterThanOrEqual(0);
    expect(status.grants[0].remainingMs).toBeGreaterThan(7_000_000);
    // And the text view says the same for a person
    const text = await byocIn(client.cwd, { ...client.env, BYOC_TOKEN: token }, ['whoami']);
    expect(text.stdout).toContain(`identity: ${ALICE}`);
    expect(text.stdout).toMatch(new RegExp(`acme-prod\\t${created.id}\\t(1h59m|2h) left`));
    // When someone without a token asks, Then it is "not signed in" (exit 4), naming byoc login
    const anonymous = await byocIn(client.cwd, client.env, ['status']);
    expect(anonymous.exitCode).toBe(4);
    expect(anonymous.stderr).toContain('run byoc login');
    // And a token the broker does not know is refused by the broker (exit 4)
    const wrong = await byocIn(client.cwd, { ...client.env, BYOC_TOKEN: 'byoc_not-a-token' }, ['status']);
    expect(wrong.exitCode).toBe(4);
    served.child.kill('SIGTERM');
    expect((await served.exited).exitCode).toBe(0);
  });
});
