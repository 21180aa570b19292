import { describe, expect, it } from 'vitest';
import { FakeClock, runCli } from '../../../fakes/context.js';
import { tempDir } from '../../../fakes/fs.js';

const ALICE = 'alice@vendor.example';

/** An embedded broker store: every command of one test runs on it, as on the broker's machine. */
function embedded() {
  const clock = new FakeClock(new Date());
  const setup = { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir() }, clock };
  return (argv: string[], env: Record<string, string> = {}, extra: { stdoutTTY?: boolean } = {}) => {
    // a second between commands: "newest first" is then a fact, not a tie
    clock.advance(1000);
    return runCli(argv, { ...setup, ...extra, env: { ...setup.env, ...env } });
  };
}

describe('byoc broker token create', () => {
  it('--json names the person `identity`, like every other document, with `user` as its 0.1 alias, and the token id', async () => {
    // Given a broker state folder, When a token is created as JSON
    const result = await runCli(['broker', 'token', 'create', ALICE, '--json'], { cwd: tempDir(), env: { BYOC_STATE_DIR: tempDir() } });
    // Then the document carries the identity under its new name and its old one, the token, its id and no expiry
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document).toEqual({
      id: expect.stringMatching(/^t-[0-9a-z]{12}$/),
      identity: ALICE,
      user: ALICE,
      token: expect.stringMatching(/^byoc_[A-Za-z0-9_-]{43}$/),
      groups: [],
      createdAt: expect.any(String),
      state: 'active',
    });
    // and the human is told it never expires, with the command that revokes it
    expect(result.stderr).toContain(`it never expires`);
    expect(result.stderr).toContain(`byoc broker token revoke ${document.id}`);
  });

  it('prints only the token on stdout, its id on stderr; --ttl sets the expiry and --group (repeated or comma-separated) the groups', async () => {
    const cli = embedded();
    // When a token is created with a ttl and groups given both ways
    const result = await cli(['broker', 'token', 'create', ALICE, '--ttl', '30d', '--group', 'auditors', '--group', 'team:db,team:ch']);
    // Then stdout is the token alone (for BYOC_TOKEN=$(...)), stderr names its id and expiry
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toMatch(/^byoc_[A-Za-z0-9_-]{43}$/);
    const id = /token (t-[0-9a-z]{12}) for/.exec(result.stderr)?.[1];
    expect(id).toBeDefined();
    expect(result.stderr).toContain('(groups: auditors, team:db, team:ch)');
    // and the list shows them
    const listed = JSON.parse((await cli(['broker', 'token', 'list', '--json'])).stdout).tokens;
    expect(listed).toEqual([expect.objectContaining({ id, identity: ALICE, groups: ['auditors', 'team:db', 'team:ch'], state: 'active' })]);
    const created = Date.parse(listed[0].createdAt);
    expect(Date.parse(listed[0].expiresAt) - created).toBe(30 * 86_400_000);
  });

  it.each([
    ['2y', 'a duration'],
    ['366d', 'between 1m and 365d'],
    ['30s', 'between 1m and 365d'],
  ])('refuses --ttl %s (exit 2), saying what is accepted', async (ttl, message) => {
    const result = await embedded()(['broker', 'token', 'create', ALICE, '--ttl', ttl]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('refuses a group name that would need quoting (exit 2)', async () => {
    const result = await embedded()(['broker', 'token', 'create', ALICE, '--group', 'on call']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('"on call" is not a group name');
  });
});

describe('byoc broker token list and revoke (embedded)', () => {
  it('lists id, user, groups, created, last used, expiry and state, never a secret or hash; revoke makes it revoked', async () => {
    const cli = embedded();
    // Given two tokens
    const first = (await cli(['broker', 'token', 'create', ALICE, '--ttl', '1d'])).stdout.trim();
    const second = (await cli(['broker', 'token', 'create', 'bot', '--group', 'auditors'])).stdout.trim();
    // When they are listed, as text and as JSON
    const text = await cli(['broker', 'token', 'list']);
    const json = await cli(['broker', 'token', 'list', '--json']);
    // Then one line each, tab-separated, newest first; and neither the secrets nor their hashes appear
    expect(text.exitCode).toBe(0);
    const lines = text.stdout.trim().split('\n').map((line) => line.split('\t'));
    expect(lines.map((line) => [line[1], line[2], line[4], line[6]])).toEqual([
      ['bot', 'auditors', '-', 'active'],
      [ALICE, '-', '-', 'active'],
    ]);
    expect(lines[1]![5]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines[0]![5]).toBe('never');
    const { createHash } = await import('node:crypto');
    for (const output of [text.stdout, json.stdout]) {
      for (const secret of [first, second]) {
        expect(output).not.toContain(secret);
        expect(output).not.toContain(createHash('sha256').update(secret).digest('hex').slice(0, 16));
      }
    }
    const id = JSON.parse(json.stdout).tokens[1].id;
    // When the first is revoked, as JSON
    const revoked = await cli(['broker', 'token', 'revoke', id, '--json'], { BYOC_USER: 'ops@vendor.example' });
    // Then it says who and when, and the list shows it revoked
    expect(revoked.exitCode).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id, identity: ALICE, state: 'revoked', revokedBy: 'ops@vendor.example', revokedAt: expect.any(String) });
    expect((await cli(['broker', 'token', 'list'])).stdout).toMatch(new RegExp(`^${id}\\t.*\\trevoked$`, 'm'));
    // And revoking it again, or an unknown id, is refused with a reason
    const again = await cli(['broker', 'token', 'revoke', id]);
    expect(again.exitCode).toBe(4);
    expect(again.stderr).toContain('already revoked');
    const unknown = await cli(['broker', 'token', 'revoke', 't-000000000000']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('byoc broker token list');
    // And the text of revoke says what happened
    const third = JSON.parse((await cli(['broker', 'token', 'create', 'x', '--json'])).stdout).id;
    expect((await cli(['broker', 'token', 'revoke', third])).stdout).toBe(`revoked ${third} (x); the broker refuses it from now on\n`);
  });
});

describe('byoc broker token list on a terminal', () => {
  it('shows a table with relative times and the state; never a secret', async () => {
    // Given a token expiring in a day, never used, and a revoked one
    const cli = embedded();
    const secret = (await cli(['broker', 'token', 'create', ALICE, '--ttl', '1d', '--group', 'auditors'])).stdout.trim();
    const revoked = JSON.parse((await cli(['broker', 'token', 'create', 'bot', '--json'])).stdout).id;
    await cli(['broker', 'token', 'revoke', revoked]);
    // When listed on a TTY
    const result = await cli(['broker', 'token', 'list'], {}, { stdoutTTY: true });
    // Then a header row and one row each, newest first, with its state
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((line) => line.trimEnd());
    expect(lines[0]).toMatch(/^ID\s+USER\s+GROUPS\s+CREATED\s+LAST USED\s+EXPIRES\s+STATE$/);
    expect(lines[1]).toMatch(new RegExp(`^${revoked}\\s+bot\\s+-\\s+.+\\s+never\\s+never\\s+revoked$`));
    expect(lines[2]).toMatch(/alice@vendor\.example\s+auditors\s+.+\s+never\s+.+\s+active$/);
    expect(lines).toHaveLength(3);
    expect(result.stdout).not.toContain(secret);
  });
});
