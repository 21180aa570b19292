import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../../src/access/open.js';
import { renderOperatorConfig } from '../../../../src/access/operator.js';
import { serverUserFor } from '../../../../src/access/server-user.js';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { openTestBroker } from '../../../fakes/broker.js';
import { tempDir } from '../../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';

/** A real embedded broker with one request from alice; the command runs as bob (the customer's operator). */
async function workspace() {
  const stateDir = tempDir();
  const clock = new FakeClock();
  const { broker } = await openTestBroker(stateDir, clock);
  const request = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-42', duration: '2h' });
  const run = (argv: string[], env: Record<string, string> = {}) =>
    runCli(['access', 'operator-config', ...argv], { cwd: tempDir(), clock, env: { BYOC_STATE_DIR: stateDir, ...env }, clients: { broker: async () => embeddedClient(broker, BOB, stateDir) } });
  return { broker, clock, request, run };
}

describe('byoc access operator-config', () => {
  it('prints only the SQL when piped, ready for clickhouse-client', async () => {
    // Given an approved request
    const { broker, request, run } = await workspace();
    const approved = await broker.approve(BOB, request.id);
    // When the operator asks for the step
    const result = await run([request.id]);
    // Then stdout is exactly the rendered script, nothing on stderr
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(renderOperatorConfig(approved, 'sql').content);
    expect(result.stdout).toMatch(/^-- byoc operator step for request r-/);
    expect(result.stdout).toContain(`CREATE USER IF NOT EXISTS ${serverUserFor(request.id, ALICE)} IDENTIFIED WITH ssl_certificate SAN`);
    expect(result.stderr).toBe('');
  });

  it('--json prints the whole operator config, old fields and new', async () => {
    const { broker, request, run } = await workspace();
    await broker.approve(BOB, request.id);
    const result = await run([request.id, '--format', 'xml', '--json']);
    expect(result.exitCode).toBe(0);
    const user = serverUserFor(request.id, ALICE);
    expect(JSON.parse(result.stdout)).toEqual({
      requestId: request.id,
      format: 'xml',
      user,
      commonName: ALICE,
      content: expect.stringContaining(`<subject_alt_name>URI:urn:byoc:request:${request.id}</subject_alt_name>`),
      action: 'create',
      status: 'approved',
      subjectAltName: `URI:urn:byoc:request:${request.id}`,
      notAfter: '2026-11-21T12:00:00.000Z',
      file: `/etc/clickhouse-server/users.d/${user}.xml`,
    });
  });

  it('takes the format from BYOC_OPERATOR_FORMAT', async () => {
    const { broker, request, run } = await workspace();
    await broker.approve(BOB, request.id);
    const result = await run([request.id], { BYOC_OPERATOR_FORMAT: 'xml' });
    expect(result.stdout).toMatch(/^<\?xml version="1.0"\?>/);
  });

  it('prints the DROP USER once the request is revoked, text and JSON', async () => {
    // Given a grant that was revoked
    const { broker, request, run } = await workspace();
    await broker.approve(BOB, request.id);
    await broker.revoke(ALICE, request.id, 'done');
    // When the operator asks again
    const text = await run([request.id]);
    const json = await run([request.id, '--json']);
    // Then the step is the removal of that request's user
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split('\n').filter((line) => line && !line.startsWith('-- '))).toEqual([`DROP USER IF EXISTS ${serverUserFor(request.id, ALICE)};`, `KILL QUERY WHERE user = '${serverUserFor(request.id, ALICE)}' ASYNC;`]);
    expect(JSON.parse(json.stdout)).toMatchObject({ action: 'drop', status: 'revoked', user: serverUserFor(request.id, ALICE) });
  });

  it('refuses a pending request with exit 4 and the next step, in text and JSON', async () => {
    const { request, run } = await workspace();
    const text = await run([request.id]);
    expect(text.exitCode).toBe(4);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain(`${request.id} is pending`);
    expect(text.stderr).toContain(`byoc access wait ${request.id}`);
    const json = await run([request.id, '--json']);
    expect(json.exitCode).toBe(4);
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'request_not_approved', hint: expect.stringContaining(`byoc access wait ${request.id}`) });
  });

  it('refuses an unknown format (exit 2) naming the choices', async () => {
    const { request, run } = await workspace();
    const result = await run([request.id, '--format', 'yaml']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/sql.*xml/);
  });
});
