import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Env } from '../context.js';
import { ConfigError } from '../errors.js';
import { closest } from '../util/suggest.js';
import type { ConfigData, SchemaIssue } from './schema.js';
import type { Setting, SettingsCatalog } from './settings.js';

// The file search (cosmiconfig, ~12 ms to import) loads only when there is something to read; the schema is
// byoc's own (src/config/schema.ts says why), and the YAML library only names the line of a problem.
const schemaModule = () => import('./schema.js');
const search = async () => (await import('cosmiconfig')).cosmiconfig;

const MODULE_NAME = 'byoc';

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
  /** where explicitFile came from (`--config`, `BYOC_CONFIG`), for the error */
  explicitOrigin?: string | undefined;
  /** the settings a file may set; default: the shared ones only */
  settings?: SettingsCatalog | undefined;
}

/** The user-wide file: `$XDG_CONFIG_HOME/byoc/config.yaml`, default `~/.config/byoc/config.yaml`. */
function userConfigPath(env: Env): string | undefined {
  const base = env.XDG_CONFIG_HOME || (env.HOME ? path.join(env.HOME, '.config') : undefined);
  return base ? path.join(base, MODULE_NAME, 'config.yaml') : undefined;
}

/** Finds and validates the configuration: an explicit file, else a project search from cwd, else the user file. */
export async function loadConfigFile(options: LoadOptions): Promise<ConfigFile> {
  if (options.explicitFile) {
    const file = path.resolve(options.cwd, options.explicitFile);
    const origin = options.explicitOrigin ? ` (from ${options.explicitOrigin})` : '';
    if (!existsSync(file)) {
      throw new ConfigError('config_not_found', `configuration file ${file}${origin} does not exist`, {
        hint: `Name an existing file with --config or BYOC_CONFIG, or drop both to use the search path (byoc config show says which file is used).`,
      });
    }
    return readAndValidate(file, options.settings);
  }
  // Most folders hold no configuration at all: a few stat calls say so without loading the search library.
  if (!mayHoldConfiguration(options.cwd, options.env)) return { path: undefined, data: {} };
  const explorer = (await search())(MODULE_NAME, { searchPlaces: SEARCH_PLACES, searchStrategy: 'project', cache: false });
  const found = await wrapParseErrors(options.cwd, () => explorer.search(options.cwd));
  if (found) return validated(found.filepath, found.isEmpty ? {} : found.config, await schemaModule(), await settingsFor(found.config, options.settings));
  const userFile = userConfigPath(options.env);
  if (userFile && existsSync(userFile)) return readAndValidate(userFile, options.settings);
  return { path: undefined, data: {} };
}

/**
 * Whether the search could find anything: cosmiconfig's project search (each folder from cwd up to the first
 * holding a package.json or package.yaml) and the user file, by existence only. A package.json without a `byoc`
 * key does not count. cosmiconfig's meta configuration (.config/config.json) is not honoured by byoc.
 */
export function mayHoldConfiguration(cwd: string, env: Env): boolean {
  let dir = path.resolve(cwd);
  for (;;) {
    for (const place of SEARCH_PLACES) {
      const candidate = path.join(dir, place);
      if (!existsSync(candidate)) continue;
      if (place !== 'package.json' || packageHasKey(candidate)) return true;
    }
    if (existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'package.yaml'))) break;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const userFile = userConfigPath(env);
  return userFile !== undefined && existsSync(userFile);
}

function packageHasKey(file: string): boolean {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return parsed !== null && typeof parsed === 'object' && MODULE_NAME in parsed;
  } catch {
    return true; // unreadable: let the search say what is wrong with it
  }
}

async function readAndValidate(file: string, catalog: SettingsCatalog | undefined): Promise<ConfigFile> {
  const explorer = (await search())(MODULE_NAME, { searchPlaces: SEARCH_PLACES, cache: false });
  const result = await wrapParseErrors(file, () => explorer.load(file));
  const raw = !result || result.isEmpty ? {} : result.config;
  return validated(file, raw, await schemaModule(), await settingsFor(raw, catalog));
}

/**
 * The settings to check a file against. A file that sets only shared keys (broker, user, network, services,
 * policy, output...) is checked without loading a single command module; one that sets a command's key
 * (`query.maxRows`) loads them all, so that a misspelt key is still named.
 */
async function settingsFor(raw: unknown, catalog: SettingsCatalog | undefined): Promise<readonly Setting[]> {
  if (!catalog) return (await import('../options.js')).SHARED_SETTINGS;
  const shared = new Set(catalog.shared.map((setting) => setting.key));
  const structural = (key: string) => key.startsWith('services.') || key.startsWith('network.resolve.') || key.startsWith('notify.') || key === 'services' || key === 'network.resolve' || key === 'notify';
  const onlyShared = leafKeys(raw).every((key) => shared.has(key) || structural(key));
  return onlyShared ? catalog.shared : (catalog.forFiles?.() ?? catalog.all());
}

function leafKeys(data: unknown, prefix = ''): string[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return prefix ? [prefix] : [];
  const entries = Object.entries(data as Record<string, unknown>);
  if (entries.length === 0) return prefix ? [prefix] : [];
  return entries.flatMap(([key, value]) => leafKeys(value, prefix ? `${prefix}.${key}` : key));
}

async function wrapParseErrors<T>(where: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const file = (error as { filepath?: string }).filepath ?? where;
    throw new ConfigError('config_unreadable', `cannot read configuration ${file}: ${await parseProblem(error, file)}`, {
      hint: `Fix the syntax at that place; byoc config validate ${file} checks the file without running anything.`,
      cause: error,
    });
  }
}

/**
 * The parser's own words and place. js-yaml (cosmiconfig's YAML parser) gives both; a JSON error names neither
 * line nor column, so the YAML library (JSON is YAML) finds them.
 */
async function parseProblem(error: unknown, file: string): Promise<string> {
  const yamlError = error as { reason?: string; mark?: { line: number; column: number } };
  if (yamlError.reason && yamlError.mark) return `line ${yamlError.mark.line + 1}, column ${yamlError.mark.column + 1}: ${yamlError.reason}`;
  const message = error instanceof Error ? error.message : String(error);
  const detail = message.replace(/^(YAML|JSON) Error in [^\n]*:\n/, '').split('\n').find((line) => line.trim() !== '') ?? message;
  if (/\.json$/.test(file)) {
    try {
      const { parseDocument, LineCounter } = await import('yaml');
      const lines = new LineCounter();
      const document = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines });
      const place = document.errors[0]?.linePos?.[0];
      if (place) return `line ${place.line}, column ${place.col}: ${detail}`;
    } catch {
      // the detail alone, then
    }
  }
  return detail;
}

type SchemaModule = typeof import('./schema.js');

/**
 * Validates parsed content against the schema; the error names the file, then for each problem its line (when
 * the file is YAML or JSON), the key path and what was expected.
 */
export async function validated(file: string, raw: unknown, { configSchema, allowedKeysAt }: SchemaModule, settings: readonly Setting[]): Promise<ConfigFile> {
  const schema = configSchema(settings);
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return { path: file, data: parsed.data as ConfigData };
  const lineOf = await lineFinder(file);
  const problems = parsed.issues.flatMap((issue) => describeIssue(issue, (at) => allowedKeysAt(schema, at), lineOf));
  throw new ConfigError(
    'config_invalid',
    `invalid configuration in ${file}:\n${problems.map((line) => `  ${line}`).join('\n')}`,
    { hint: `Fix the key(s) above, then check with: byoc config validate ${file}` },
  );
}

type LineOf = (keyPath: readonly (string | number)[]) => number | undefined;

/** Where a key path sits in a YAML or JSON file (package.json: under `byoc`); nothing for JavaScript files. */
async function lineFinder(file: string): Promise<LineOf> {
  const base = path.basename(file);
  if (/\.(c?m?js|ts)$/.test(base)) return () => undefined;
  try {
    const { parseDocument, LineCounter, isMap, isPair, isScalar } = await import('yaml');
    const lines = new LineCounter();
    const document = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines });
    const prefix = base === 'package.json' ? [MODULE_NAME] : [];
    return (keyPath) => {
      // The pair that holds the last segment: its key's line is where the reader looks.
      const full = [...prefix, ...keyPath];
      const parent = full.length > 1 ? document.getIn(full.slice(0, -1), true) : document.contents;
      if (!isMap(parent)) return undefined;
      const pair = parent.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(full.at(-1)));
      const offset = pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      return offset === undefined ? undefined : lines.linePos(offset).line;
    };
  } catch {
    return () => undefined;
  }
}

function describeIssue(issue: SchemaIssue, allowedKeysAt: (path: readonly (string | number)[]) => string[], lineOf: LineOf): string[] {
  const at = (keyPath: readonly (string | number)[]) => {
    const line = keyPath.length ? lineOf(keyPath) : undefined;
    return `${line === undefined ? '' : `line ${line}: `}${keyPath.length ? keyPath.map(String).join('.') : '(top level)'}`;
  };
  const keyPath = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(keyPath);
    return issue.keys.map((key) => {
      const guess = closest(key, allowed);
      const suggestion = guess ? ` (did you mean "${guess}"?)` : '';
      return `${at([...keyPath, key])}: unknown key${suggestion}; expected one of: ${allowed.join(', ')}`;
    });
  }
  return [`${at(keyPath)}: ${issue.message}`];
}
