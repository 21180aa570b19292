/**
 * People using byoc against a real OpenID provider in the integration tests: each with their own state folder and
 * clock, signing in through a scripted browser (code + PKCE) or the device flow approved by a scripted client.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from '../../src/auth/browser.js';
import { main } from '../../src/main.js';
import { FakeClock, testBase } from '../fakes/context.js';
import { tempDir } from '../fakes/fs.js';
import { strictFake } from '../fakes/strict-fake.js';
import { ScriptedBrowser } from './oidc-provider.js';

/** One person's byoc: their own state folder and clock, on this machine. */
export function person(cwd: string, env: Record<string, string> = {}) {
  const stateDir = tempDir();
  // time that a test moves forward (a token's expiry), and waits that really wait (two runs sharing a lock)
  const clock = Object.assign(new FakeClock(new Date()), { sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)) });
  /** Runs byoc; `during` sees stderr while it runs (a person reading the terminal). */
  const run = async (argv: string[], setup: { browser?: Browser; stderrTTY?: boolean; during?: (stderr: () => string) => Promise<void> } = {}) => {
    const harness = testBase({
      cwd,
      env: { BYOC_STATE_DIR: stateDir, ...env },
      clock,
      stderrTTY: setup.stderrTTY ?? false,
      clients: { browser: async () => setup.browser ?? strictFake<Browser>({}, 'browser') },
    });
    const exited = main(argv, harness.base);
    const watching = setup.during?.(() => harness.stderr.text);
    const [exitCode] = await Promise.all([exited, watching]);
    return { exitCode, stdout: harness.stdout.text, stderr: harness.stderr.text };
  };
  const session = async () => JSON.parse(await readFile(path.join(stateDir, 'auth', 'session.json'), 'utf8')) as Record<string, unknown>;
  return { stateDir, clock, run, session };
}

/** A browser that signs in as `login` when byoc opens it; `done` settles once the redirect reached byoc. */
export function scriptedBrowser(login: string) {
  let visit: Promise<unknown> = Promise.resolve();
  const browser = strictFake<Browser>({
    open: async (url: string) => {
      visit = new ScriptedBrowser(login).visit(url);
      return true;
    },
  }, 'browser');
  return { browser, done: () => visit };
}

export async function waitFor(text: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  for (let i = 0; i < 200; i += 1) {
    const match = pattern.exec(text());
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never saw ${pattern} in: ${text()}`);
}

/** Signs `who` in through the code flow with a scripted browser. */
export async function loginWithBrowser(who: ReturnType<typeof person>, login: string) {
  const { browser, done } = scriptedBrowser(login);
  const result = await who.run(['login', '--json'], { browser, stderrTTY: true });
  await done();
  return result;
}

/** Signs `who` in through the device flow, approved by a scripted client reading the code off stderr. */
export async function loginWithDevice(who: ReturnType<typeof person>, login: string) {
  return who.run(['login', '--device', '--json'], {
    during: async (stderr) => {
      const [, complete] = await waitFor(stderr, /\(or open (\S+)\)/);
      await new ScriptedBrowser(login).approveDevice(complete!);
    },
  });
}

