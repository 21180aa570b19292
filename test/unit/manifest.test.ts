import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { manifest } from '../../commands/index.js';
import type { OptionSpec } from '../../src/command.js';
import { schemaAt } from '../../src/config/schema.js';
import { findSetting, SETTINGS } from '../../src/config/settings.js';

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
const options = loaded.flatMap((entry) =>
  Object.entries((entry.command.options ?? {}) as Record<string, OptionSpec>).map(([name, spec]) => ({ file: entry.file, name, spec })),
);

describe('the command manifest', () => {
  it('lists exactly the files under commands/', () => {
    expect(manifest.map((entry) => entry.file).sort()).toEqual(commandFiles().sort());
  });

  it('uses kebab-case file names', () => {
    for (const file of commandFiles()) expect(file).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*(\/[a-z0-9]+(-[a-z0-9]+)*)*$/);
  });

  it('repeats each command\'s description and visibility exactly (help lists commands without loading them)', () => {
    for (const entry of loaded) {
      expect(entry.description, entry.file).toBe(entry.command.description);
      expect(entry.hidden, entry.file).toBe(entry.command.hidden ?? false);
    }
  });

  it('gives every command a description and every example starts with byoc', () => {
    for (const entry of loaded) {
      expect(entry.command.description, entry.file).not.toBe('');
      for (const example of entry.command.examples ?? []) expect(example, entry.file).toMatch(/byoc /);
    }
  });
});

describe('every flag has a BYOC_* variable and a config key', () => {
  it.each(options.map((option) => [`${option.file} ${option.spec.flags}`, option] as const))('%s', (_label, { name, spec }) => {
    const setting = findSetting(spec.setting);
    expect(setting, `${spec.setting} is not in SETTINGS`).toBeDefined();
    expect(setting!.env).toMatch(/^BYOC_[A-Z0-9_]+$/);
    expect(setting!.kind === spec.kind || (setting!.kind === 'string' && spec.choices), `${spec.setting} kind`).toBeTruthy();
    // the option's key is the attribute commander stores the flag under
    const long = spec.flags.split(/[ ,]/).find((part) => part.startsWith('--'))!.replace('--[no-]', '--');
    expect(long.slice(2).replace(/-([a-z])/g, (_m, letter: string) => letter.toUpperCase())).toBe(name);
  });

  it('every setting is a key the configuration schema accepts', () => {
    for (const setting of SETTINGS) expect(schemaAt(setting.key.split('.')), setting.key).toBeDefined();
  });

  it('no two settings share a variable', () => {
    const envs = SETTINGS.map((setting) => setting.env);
    expect(new Set(envs).size).toBe(envs.length);
  });
});
