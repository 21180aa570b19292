import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, groups, manifest, settingsCatalog } from '../../commands/index.js';
import { settingsData, settingsFromData, type SettingData } from '../../src/config/settings.js';
import { checkValue } from '../../src/config/kinds.js';
import { createRequire } from 'node:module';
import { commandPaths, HELP_WIDTH, renderHelpTexts, type HelpTexts } from '../../src/precomputed-help.js';
import { CapturedStream, runCli, testBase } from '../fakes/context.js';
import { main } from '../../src/main.js';

// The lookup bin/byoc.js runs before loading byoc (plain CommonJS, so typed here).
const { precomputedHelpPath } = createRequire(import.meta.url)('../../bin/early.js') as {
  precomputedHelpPath(argv: readonly string[], stdout: { isTTY?: boolean; columns?: number }, help: HelpTexts): string | undefined;
};
const builtFile = new URL('../../dist/help.json', import.meta.url);
if (!existsSync(builtFile)) throw new Error('dist/help.json is missing: run npm run build');
const built = JSON.parse(readFileSync(builtFile, 'utf8')) as HelpTexts;
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const pipe = { isTTY: false };
const words = (path: string) => (path ? path.split(' ') : []);
const isGroup = (path: string) => commandPaths(COMMANDS).some((other) => other.startsWith(`${path} `)) || path === '';

/** Every command line main answers with the help of `path` (what bin/early.js must recognise). */
function helpForms(path: string): string[][] {
  const w = words(path);
  const forms = [[...w, '--help'], [...w, '-h']];
  if (path === '') forms.push([], ['help']);
  // `byoc help exit-codes` runs the topic rather than showing its help.
  else if (!Object.hasOwn(built.texts, `help ${w[0]}`)) forms.push(['help', ...w]);
  // A group named alone prints its help, except `byoc help`, which is the root's.
  if (path !== '' && path !== 'help' && isGroup(path)) forms.push(w);
  return forms;
}

describe('help precomputed at build time (dist/help.json)', () => {
  it('holds every command path: the root, each group and each command, hidden ones included', () => {
    // Given the manifest and its groups
    const expected = new Set(['', ...Object.keys(groups), ...manifest.map((entry) => entry.file.replaceAll('/', ' '))]);
    // Then the built file has a text for each, and nothing else
    expect(new Set(Object.keys(built.texts))).toEqual(expected);
    expect(built.width).toBe(HELP_WIDTH);
  });

  it('is exactly what main (commander) renders today: rebuild when a command, option or description changes', async () => {
    // Given the texts main renders from the sources now
    const now = await renderHelpTexts(COMMANDS, version);
    // Then the built file holds the same (npm run build rewrites it)
    expect(built, 'dist/help.json is stale: run npm run build').toEqual(now);
  });

  it('carries no escape sequences, so colour settings cannot change it', () => {
    for (const [path, text] of Object.entries(built.texts)) expect(text.includes('\u001b'), path).toBe(false);
  });

  it.each(commandPaths(COMMANDS).flatMap((path) => helpForms(path).map((argv) => [argv.join(' ') || '(nothing)', argv, path] as const)))(
    '`byoc %s` is answered from the file with what main prints',
    async (_label, argv, path) => {
      // Given a plain help command line, on a pipe
      // When the fast path looks it up
      const found = precomputedHelpPath(argv, pipe, built);
      // Then it finds the path's text, which is exactly main's output for that command line
      expect(found).toBe(path);
      const result = await runCli([...argv]);
      expect(result).toMatchObject({ exitCode: 0, stderr: '' });
      expect(result.stdout).toBe(built.texts[path]);
    },
  );

  it.each([
    [['access', 'list']],
    [['doctor']],
    [['help', 'exit-codes']],
    [['help', 'nosuch']],
    [['access', 'nosuch', '--help']],
    [['--json', '--help']],
    [['access', '--help', '--json']],
    [['access', 'request', 'acme', '--help']],
    [['help', 'access', '--json']],
    [['../etc', '--help']],
    [['constructor', '--help']],
  ])('leaves `byoc %j` to main (a command, a topic, an error or extra words)', (argv) => {
    expect(precomputedHelpPath(argv, pipe, built)).toBeUndefined();
  });

  it('answers a terminal 80 columns wide; any other width goes to commander, which wraps at that width', async () => {
    // Given a terminal of 80 columns: the file's text is what commander prints there
    expect(precomputedHelpPath(['--help'], { isTTY: true, columns: 80 }, built)).toBe('');
    const at80 = testBase({ stdoutTTY: true });
    const narrow = new CapturedStream(true, 80);
    at80.base.io.stdout = narrow;
    expect(await main(['--help'], at80.base)).toBe(0);
    expect(narrow.text).toBe(built.texts['']);
    // Given a terminal of 100 columns (or one that does not say): the fast path declines...
    expect(precomputedHelpPath(['--help'], { isTTY: true, columns: 100 }, built)).toBeUndefined();
    expect(precomputedHelpPath(['--help'], { isTTY: true }, built)).toBe('');
    // ...and commander wraps at 100, which differs from the file's 80
    const wide = await runCli(['--help'], { stdoutTTY: true });
    expect(wide.exitCode).toBe(0);
    expect(wide.stdout).not.toBe(built.texts['']);
    expect(Math.max(...wide.stdout.split('\n').map((line) => line.length))).toBeGreaterThan(80);
    expect(Math.max(...built.texts['']!.split('\n').map((line) => line.length))).toBeLessThanOrEqual(80);
  });
});

describe('the settings table precomputed at build time (dist/settings.json)', () => {
  const builtSettings = JSON.parse(readFileSync(new URL('../../dist/settings.json', import.meta.url), 'utf8')) as SettingData[];

  it('is exactly the declarations of today: rebuild when an option changes', async () => {
    // Given every setting the sources declare
    const now = settingsData(await settingsCatalog.all());
    // Then the built table holds the same, as JSON would write it
    expect(builtSettings, 'dist/settings.json is stale: run npm run build').toEqual(JSON.parse(JSON.stringify(now)));
  });

  it('checks a value as the declaration does, patterns included', async () => {
    // Given the declarations and the table read back
    const declared = await settingsCatalog.all();
    const revived = settingsFromData(builtSettings);
    expect(revived.map((setting) => setting.key)).toEqual(declared.map((setting) => setting.key));
    // Then each accepts and refuses the same values with the same words
    const samples = ['', 'x', 'INC-42', '42', '-1', '0', '3s', '1h30m', 'true', 'maybe', 'a,b', 'https://x', 'socks5h://h:1', 'ftp://x', 7, 100, false, ['a']];
    declared.forEach((setting, index) => {
      for (const sample of samples) expect(checkValue(revived[index]!, sample), `${setting.key} ${String(sample)}`).toEqual(checkValue(setting, sample));
    });
    expect(revived.some((setting) => setting.pattern instanceof RegExp)).toBe(true);
  });
});
