import { describe, expect, it } from 'vitest';
import { notifierFor } from '../../../src/access/open.js';
import { ConfigError, exitCodeFor } from '../../../src/errors.js';
import { testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

const SECRET = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';

/** What opening the notifications of this configuration file comes to: the error's exit code and words, or none. */
async function problem(config: string, env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const cwd = tempDir({ 'byoc.config.yaml': config, ...files });
  const { ctx } = testContext({ cwd, env: { BYOC_STATE_DIR: tempDir(), ...env } });
  try {
    await notifierFor(ctx, await ctx.config(), 'served');
    return undefined;
  } catch (error) {
    return { exit: exitCodeFor(error), message: (error as Error).message, hint: (error as ConfigError).hint ?? '', isConfig: error instanceof ConfigError };
  }
}

describe('the notify configuration', () => {
  it('is optional: no section, no notifier', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'services: { acme-prod: {} }\n' });
    const { ctx } = testContext({ cwd, env: { BYOC_STATE_DIR: tempDir() } });
    await expect(notifierFor(ctx, await ctx.config(), 'served')).resolves.toBeUndefined();
  });

  it('accepts webhook and slack targets with secrets from variables and files', async () => {
    // Given a valid section / Then no error
    const config = 'notify:\n  targets:\n    hook: { kind: webhook, url: "https://hooks.example/byoc", secretFile: hook.secret }\n    chat: { kind: slack, urlEnv: SLACK_URL }\n  default: [hook, chat]\n';
    expect(await problem(config, { SLACK_URL: 'https://hooks.slack.com/services/T/B/x' }, { 'hook.secret': `${SECRET}\n` })).toBeUndefined();
  });

  // Given each misconfiguration / Then exit 3 naming the key, with a hint that says what to do
  const cases: [string, string, Record<string, string>, RegExp, RegExp][] = [
    ['a target without kind', 'notify: { targets: { hook: { url: "https://h.example" } } }\n', {}, /notify\.targets\.hook\.kind is required/, /webhook.*slack/],
    ['an unknown kind', 'notify: { targets: { hook: { kind: email, url: "https://h.example" } } }\n', {}, /notify\.targets\.hook\.kind.*expected webhook or slack/, /./],
    ['a webhook without a secret', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example" } } }\n', {}, /notify\.targets\.hook has no signing secret/, /secretEnv.*openssl rand -hex 32/],
    ['a secret variable that is not set', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example", secretEnv: HOOK_SECRET } } }\n', {}, /notify\.targets\.hook\.secretEnv: the variable HOOK_SECRET is not set/, /Set HOOK_SECRET/],
    ['a short secret', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example", secretEnv: HOOK_SECRET } } }\n', { HOOK_SECRET: 'changeme' }, /secretEnv: the signing secret has 8 characters; at least 16/, /openssl rand/],
    ['a secret file that is missing', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example", secretFile: nope.secret } } }\n', {}, /notify\.targets\.hook\.secretFile: cannot read .*nope\.secret \(ENOENT\)/, /relative to the config file/],
    ['a Slack URL written inline', 'notify: { targets: { chat: { kind: slack, url: "https://hooks.slack.com/services/T/B/x" } } }\n', {}, /notify\.targets\.chat\.url: a Slack incoming-webhook URL is a secret/, /urlEnv/],
    ['a Slack target without URL', 'notify: { targets: { chat: { kind: slack } } }\n', {}, /notify\.targets\.chat has no URL/, /urlEnv/],
    ['a URL variable that is no URL', 'notify: { targets: { chat: { kind: slack, urlEnv: SLACK_URL } } }\n', { SLACK_URL: 'not a url' }, /notify\.targets\.chat\.urlEnv: expected an http/, /./],
    ['a route to a target that does not exist', `notify: { targets: { hook: { kind: webhook, url: "https://h.example", secretEnv: HOOK_SECRET } } }\nservices: { acme-prod: { notify: [hoook] } }\n`, { HOOK_SECRET: SECRET }, /services\.acme-prod\.notify names "hoook", which is not in notify\.targets/, /Targets: hook/],
    ['a default list without targets', 'notify: { default: [hook] }\n', {}, /notify\.default names notification targets, but notify\.targets defines none/, /notify\.targets/],
    ['an unknown event', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example", secretEnv: HOOK_SECRET, events: [created, approvd] } } }\n', { HOOK_SECRET: SECRET }, /notify\.targets\.hook\.events.*unknown event "approvd"; events: created, approved, denied, revoked, expiring-soon, lapsed/, /./],
    ['a misspelt key', 'notify: { targets: { hook: { kind: webhook, url: "https://h.example", secret: x } } }\n', {}, /notify\.targets\.hook.*secret/, /./],
  ];
  it.each(cases)('refuses %s (exit 3)', async (_name, config, env, message, hint) => {
    const found = await problem(config, env);
    expect(found).toBeDefined();
    expect(found!.exit).toBe(3);
    expect(found!.message).toMatch(message);
    expect(`${found!.message} ${found!.hint}`).toMatch(hint);
  });

  it('never prints the secret a variable holds, even when it is wrong', async () => {
    const found = await problem('notify: { targets: { chat: { kind: slack, urlEnv: SLACK_URL } } }\n', { SLACK_URL: 'T0/B0/supersecretpart' });
    expect(`${found!.message} ${found!.hint}`).not.toContain('supersecretpart');
  });

  it('warns of a webhook on plain HTTP beyond this machine, not of one on loopback', async () => {
    const cwd = tempDir({
      'byoc.config.yaml': 'notify:\n  targets:\n    far: { kind: webhook, url: "http://hooks.vendor.example/byoc", secretEnv: S }\n    near: { kind: webhook, url: "http://127.0.0.1:9/byoc", secretEnv: S }\n',
    });
    const { ctx, stderr } = testContext({ cwd, env: { BYOC_STATE_DIR: tempDir(), S: SECRET } });
    await notifierFor(ctx, await ctx.config(), 'served');
    expect(stderr.text).toBe("warning: notify.targets.far: hooks.vendor.example is plain HTTP; requests' reasons and tickets cross the network in clear (use https://)\n");
  });
});
