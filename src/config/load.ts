import { existsSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { closest } from '../util/suggest.js';
import type { ConfigData } from './schema.js';
import type { Env } from '../context.js';

// The schema library and the file search cost ~150 ms to load; most runs in a folder without a
// configuration file need neither, so both load only when there is something to search for or check.
const schema = () => import('./schema.js');
const search = async () => (await import('cosmiconfig')).cosmiconfig;

export const MODULE_NAME = 'byoc';

const SEARCH_PLACES = [
  'package.json',
  `.${MODULE_NAME}rc`,
  `.${MODULE_NAME}rc.json`,
  `.${MODULE_NAME}rc.yaml`,
  `.${MODULE_NAME}rc.yml`,
  `.${MODULE_NAME}rc.js`,
  `.${MODULE_NAME}rc.mjs`,
  `${MODULE_NAME}.config.json`,
  `${MODULE_NAME}.config.yaml`,
  `${MODULE_NAME}.config.yml`,
  `${MODULE_NAME}.config.js`,
  `${MODULE_NAME}.config.mjs`,
  `${MODULE_NAME}.config.ts`,
];

export interface ConfigFile {
  /** Absolute path of the file the values came from; undefined when none was found. */
  path: string | undefined;
  data: ConfigData;
}

export interface LoadOptions {
  cwd: string;
  env: Env;
  /** `--config FILE` or `BYOC_CONFIG`: must exist, no search. */
  explicitFile?: string | undefined;
}

/** The user-wide file: `$XDG_CONFIG_HOME/byoc/config.yaml`, default `~/.config/byoc/config.yaml`. */
export function userConfigPath(env: Env): string | undefined {
  const base = env.XDG_CONFIG_HOME || (env.HOME ? path.join(env.HOME, '.config') : undefined);
  return base ? path.join(base, MODULE_NAME, 'config.yaml') : undefined;
}

/** Finds and validates the configuration: an explicit file, else a project search from cwd, else the user file. */
export async function loadConfigFile(options: LoadOptions): Promise<ConfigFile> {
  const explorer = (await search())(MODULE_NAME, { searchPlaces: SEARCH_PLACES, searchStrategy: 'project', cache: false });
  if (options.explicitFile) {
    const file = path.resolve(options.cwd, options.explicitFile);
    if (!existsSync(file)) {
      throw new ConfigError('config_not_found', `configuration file ${file} does not exist`, {
        hint: 'Pass an existing file with --config (or BYOC_CONFIG), or drop the flag to use the search path.',
      });
    }
    return readAndValidate(file, () => explorer.load(file));
  }
  const found = await wrapParseErrors(options.cwd, () => explorer.search(options.cwd));
  if (found) return validated(found.filepath, found.isEmpty ? {} : found.config, await schema());
  const userFile = userConfigPath(options.env);
  if (userFile && existsSync(userFile)) return readAndValidate(userFile, () => explorer.load(userFile));
  return { path: undefined, data: {} };
}

/** Validates one file without the search (for `byoc config validate FILE`). */
export async function validateConfigFile(file: string): Promise<ConfigFile> {
  if (!existsSync(file)) {
    throw new ConfigError('config_not_found', `configuration file ${file} does not exist`, {
      hint: 'Name an existing file: byoc config validate ./byoc.config.yaml',
    });
  }
  const explorer = (await search())(MODULE_NAME, { searchPlaces: SEARCH_PLACES, cache: false });
  return readAndValidate(file, () => explorer.load(file));
}

async function readAndValidate(
  file: string,
  read: () => Promise<{ config: unknown; isEmpty?: boolean } | null>,
): Promise<ConfigFile> {
  const result = await wrapParseErrors(file, read);
  return validated(file, !result || result.isEmpty ? {} : result.config, await schema());
}

async function wrapParseErrors<T>(where: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError('config_unreadable', `cannot read configuration (${where}): ${message}`, {
      hint: 'Fix the syntax of the file; byoc config validate FILE checks it without running anything.',
      cause: error,
    });
  }
}

/** Validates parsed content against the schema; the error names the file, each key path and what was expected. */
export function validated(file: string, raw: unknown, { configSchema, allowedKeysAt }: SchemaModule): ConfigFile {
  const parsed = configSchema.safeParse(raw ?? {});
  if (parsed.success) return { path: file, data: parsed.data };
  const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, allowedKeysAt));
  throw new ConfigError(
    'config_invalid',
    `invalid configuration in ${file}:\n${problems.map((line) => `  ${line}`).join('\n')}`,
    { hint: `Fix the key(s) above, then check with: byoc config validate ${file}` },
  );
}

type SchemaModule = typeof import('./schema.js');

function describeIssue(issue: z.core.$ZodIssue, allowedKeysAt: SchemaModule['allowedKeysAt']): string[] {
  const where = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(issue.path as (string | number)[]);
    return issue.keys.map((key) => {
      const keyPath = issue.path.length ? `${where}.${key}` : key;
      const guess = closest(key, allowed);
      const suggestion = guess ? ` (did you mean "${guess}"?)` : '';
      return `${keyPath}: unknown key${suggestion}; expected one of: ${allowed.join(', ')}`;
    });
  }
  if (issue.code === 'invalid_key') return [`${where}: invalid key: ${issue.issues.map((inner) => inner.message).join('; ')}`];
  return [`${where}: ${issue.message}`];
}
