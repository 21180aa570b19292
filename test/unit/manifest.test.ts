import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { manifest } from '../../commands/index.js';
import { commandFlags, commandSettings } from '../../src/command.js';
import { configSchema, schemaAt } from '../../src/config/schema.js';
import { settingsCatalog } from '../../commands/index.js';

const commandsDir = fileURLToPath(new URL('../../commands/', import.meta.url));

function commandFiles(dir = commandsDir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return commandFiles(full);
    if (!entry.name.endsWith('.ts') || full === path.join(commandsDir, 'index.ts')) return [];
    return [path.relative(commandsDir, full).replace(/\.ts$/, '')];
  });
}

const loaded = await Promise.all(manifest.map(async (entry) => ({ ...entry, command: await entry.load() })));
const settings = await settingsCatalog.all();

describe('the command manifest', () => {
  it('lists exactly the files under commands/', () => {
    expect(manifest.map((entry) => entry.file).sort()).toEqual(commandFiles().sort());
  });

  it('uses kebab-case file names', () => {
    for (const file of commandFiles()) expect(file).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*(\/[a-z0-9]+(-[a-z0-9]+)*)*$/);
  });

  it('holds the one copy of each description: command modules have none (help lists commands without loading them)', () => {
    for (const entry of loaded) {
      expect(entry.description, entry.file).not.toBe('');
      expect(Object.keys(entry.command), entry.file).not.toContain('description');
      expect(Object.keys(entry.command), entry.file).not.toContain('hidden');
    }
  });

  it('every example starts with byoc', () => {
    for (const entry of loaded) for (const example of entry.command.examples ?? []) expect(example, entry.file).toMatch(/byoc /);
  });
});

describe('every option is one declaration: flag, BYOC_* variable, config key, kind, default', () => {
  const options = loaded.flatMap((entry) => commandFlags(entry.command).map((flag) => ({ file: entry.file, flag })));

  it.each(options.map((option) => [`${option.file} ${option.flag.flag}`, option] as const))('%s', (_label, { flag }) => {
    expect(flag.spec.env).toMatch(/^BYOC_[A-Z0-9_]+$/);
    expect(flag.spec.key).toMatch(/^[a-z]+(\.[a-zA-Z]+)*$/);
    // the option's name in run's input is the attribute commander stores the flag under
    expect(flag.flag.slice(2).replace(/-([a-z])/g, (_m, letter: string) => letter.toUpperCase())).toBe(flag.name);
    // a default is a value its own validator accepts
    if (flag.spec.default !== undefined) expect(configSchema([flag.spec]).safeParse(setAt(flag.spec.key, flag.spec.default)).success, flag.spec.key).toBe(true);
  });

  it('every setting is a key the configuration schema accepts (except --config, which names the file)', () => {
    const schema = configSchema(settings);
    for (const setting of settings) expect(schemaAt(schema, setting.key.split('.')) !== undefined, setting.key).toBe(setting.inFile !== false);
  });

  it('no two settings share a key or a variable (the catalog refuses a second declaration)', () => {
    expect(new Set(settings.map((setting) => setting.env)).size).toBe(settings.length);
    expect(new Set(settings.map((setting) => setting.key)).size).toBe(settings.length);
    expect(settings.length).toBe(new Set(loaded.flatMap((entry) => commandSettings(entry.command)).concat(settingsCatalog.shared as never)).size);
  });
});

function setAt(key: string, value: unknown): Record<string, unknown> {
  return key.split('.').reduceRight<unknown>((inner, segment) => ({ [segment]: inner }), value) as Record<string, unknown>;
}
