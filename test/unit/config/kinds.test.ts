import { describe, expect, it } from 'vitest';
import { checkFlag, option, type OptionSpec } from '../../../src/command.js';
import { Configuration } from '../../../src/config/configuration.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { fixedCatalog } from '../../../src/config/settings.js';
import { ConfigError, UsageError } from '../../../src/errors.js';
import { tempDir } from '../../fakes/fs.js';

/**
 * The rule, for every kind: a value is checked by its kind's one validator wherever it comes from. A bad flag is a
 * usage error (exit 2) naming the flag; a bad variable a configuration error (exit 3) naming the variable; a bad
 * file value a configuration error (exit 3) naming the file, the line and the key. The words after the name are
 * the same three times, up to how the value itself is shown (text from a flag or a variable, YAML from a file).
 */
interface Case {
  spec: OptionSpec;
  /** a bad value as text (flag, variable) and as YAML (file) */
  bad: [text: string, yaml: string];
  good: [text: string, yaml: string];
  /** what all three sources must say is expected */
  expects: string;
  /** what run receives from the good value */
  value: unknown;
}

const declared = { env: 'BYOC_DEMO_X', key: 'demo.x', description: 'a demo setting' };
const cases: Record<string, Case> = {
  boolean: {
    spec: option.boolean({ ...declared, flag: '--x' }),
    bad: ['maybe', 'maybe'],
    good: ['yes', 'true'],
    expects: 'expected true or false',
    value: true,
  },
  'integer with bounds': {
    spec: option.integer({ ...declared, flag: '--x <n>', min: 1, max: 20 }),
    bad: ['100', '100'],
    good: ['20', '20'],
    expects: 'expected a whole number from 1 to 20',
    value: 20,
  },
  duration: {
    spec: option.duration({ ...declared, flag: '--x <duration>' }),
    bad: ['abc', 'abc'],
    good: ['1h30m', '1h30m'],
    expects: 'expected a duration such as 30s, 15m, 8h or 1h30m',
    value: 5_400_000,
  },
  choice: {
    spec: option.choice({ ...declared, flag: '--x <format>', choices: ['table', 'json', 'csv'] }),
    bad: ['xml', 'xml'],
    good: ['csv', 'csv'],
    expects: 'expected one of: table, json, csv',
    value: 'csv',
  },
  list: {
    spec: option.list({ ...declared, flag: '--x <items>', choices: ['clickhouse', 'kubernetes'] }),
    bad: ['clickhouse,ssh', '[clickhouse, ssh]'],
    good: ['clickhouse, kubernetes', '[clickhouse, kubernetes]'],
    expects: 'expected a comma-separated list of clickhouse, kubernetes',
    value: ['clickhouse', 'kubernetes'],
  },
  url: {
    spec: option.url({ ...declared, flag: '--x <url>', schemes: ['http', 'https'] }),
    bad: ['ftp://files.example', 'ftp://files.example'],
    good: ['https://broker.example', 'https://broker.example'],
    expects: 'expected a URL starting with http://, https://',
    value: 'https://broker.example',
  },
  path: {
    spec: option.path({ ...declared, flag: '--x <file>' }),
    bad: ['  ', '"  "'],
    good: ['./ca.pem', './ca.pem'],
    expects: 'expected a file path',
    value: './ca.pem',
  },
  'string with a pattern': {
    spec: option.string({ ...declared, flag: '--x <VAR>', pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, expects: 'an environment variable name' }),
    bad: ['NOT A NAME', 'NOT A NAME'],
    good: ['CH_PASSWORD', 'CH_PASSWORD'],
    expects: 'expected an environment variable name',
    value: 'CH_PASSWORD',
  },
};

const catalog = (spec: OptionSpec) => fixedCatalog([spec]);
const fromEnv = (spec: OptionSpec, text: string) =>
  spec.toRun(new Configuration({ path: undefined, data: {} }, { [spec.env]: text }, new Map(), {}, catalog(spec)).resolve(spec).value);
const fromFile = async (spec: OptionSpec, yaml: string) => {
  const cwd = tempDir({ 'byoc.yaml': `demo:\n  x: ${yaml}\n` });
  const file = await loadConfigFile({ cwd, env: {}, explicitFile: 'byoc.yaml', settings: catalog(spec) });
  return { cwd, value: spec.toRun(new Configuration(file, {}, new Map(), {}, catalog(spec)).resolve(spec).value) };
};
const failure = async (attempt: () => unknown): Promise<Error> => {
  try {
    await attempt();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
};

describe('one validator per kind, applied identically to a flag, a variable and a file value', () => {
  describe.each(Object.entries(cases))('%s', (_kind, { spec, bad, good, expects, value }) => {
    it('refuses a bad value from each source with the same words: flag exit 2, variable and file exit 3', async () => {
      // Given the same bad value three ways
      const flag = await failure(() => checkFlag(spec, bad[0], 'demo'));
      const env = await failure(() => fromEnv(spec, bad[0]));
      const cwd = tempDir({ 'byoc.yaml': `demo:\n  x: ${bad[1]}\n` });
      const file = await failure(() => loadConfigFile({ cwd, env: {}, explicitFile: 'byoc.yaml', settings: catalog(spec) }));
      // Then each names its source, says the same thing is expected, and exits as the rule says
      expect(flag).toBeInstanceOf(UsageError);
      expect((flag as UsageError).exitCode).toBe(2);
      expect(flag.message).toMatch(new RegExp(`^--x: ${escape(expects)}; got `));
      expect((flag as UsageError).hint).toMatch(/see 'byoc demo --help' for --x \(or set BYOC_DEMO_X\)\.$/i);
      expect(env).toBeInstanceOf(ConfigError);
      expect((env as ConfigError).exitCode).toBe(3);
      expect(env.message).toMatch(new RegExp(`^BYOC_DEMO_X: ${escape(expects)}; got `));
      expect((env as ConfigError).hint).toContain('Set BYOC_DEMO_X to');
      expect(file).toBeInstanceOf(ConfigError);
      expect((file as ConfigError).exitCode).toBe(3);
      expect(file.message).toContain(`invalid configuration in ${cwd}/byoc.yaml:\n  line 2: demo.x: ${expects}; got `);
    });

    it('accepts a good value from each source as the same value', async () => {
      expect(spec.toRun(checkFlag(spec, good[0]))).toEqual(value);
      expect(fromEnv(spec, good[0])).toEqual(value);
      expect((await fromFile(spec, good[1])).value).toEqual(value);
    });
  });

  it('treats an empty variable as unset, and a YAML number as the same digits a flag would give', async () => {
    const ticket = option.string({ ...declared, flag: '--x <id>' });
    expect(fromEnv(ticket, '')).toBeUndefined();
    expect((await fromFile(ticket, '4821')).value).toBe(checkFlag(ticket, '4821'));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
