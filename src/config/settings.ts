/**
 * What a setting is: a config key, a BYOC_* environment variable, a kind (which names its one validator,
 * src/config/kinds.ts), a default and a description. Nothing here lists settings: each is declared once, as an
 * option next to the command that owns it, or in src/options.ts when several commands or domain code read it.
 * The table of every setting (config schema, `byoc config show`, the README) is the union of those
 * declarations, gathered by a SettingsCatalog.
 */
type SettingKind = 'string' | 'boolean' | 'integer' | 'duration' | 'choice' | 'list' | 'url' | 'path';

export interface Setting {
  /** The key path in a configuration file: `connect.count`. */
  readonly key: string;
  readonly env: string;
  readonly kind: SettingKind;
  readonly description: string;
  /** In the form a file would hold it ('3s', 3, ['clickhouse']); run receives it converted, like any value. */
  readonly default?: unknown;
  /** What help and the README say when the default is worked out at run time ('on a TTY'). */
  readonly defaultNote?: string;
  /** false: a flag and a variable only (`--config` names the file, so the file cannot set it). */
  readonly inFile?: boolean;
  /** Constraints are data, so one validator checks a flag, a variable and a file value alike. */
  readonly min?: number;
  readonly max?: number;
  /** choice: the accepted values; list: the accepted items. */
  readonly choices?: readonly string[];
  /** url: accepted protocols without the colon (`https`, `socks5h`). */
  readonly schemes?: readonly string[];
  /** string: a pattern the value must match, and how to say what it expects. */
  readonly pattern?: RegExp;
  readonly expects?: string;
}

/**
 * Every setting byoc knows, in two steps: the shared ones are known without loading any command module (they
 * decide output and which file to read); the rest are the options of each command, whose modules load only when
 * the whole table is needed (a file with keys beyond the shared ones, `config show`, the README, completion).
 */
export interface SettingsCatalog {
  readonly shared: readonly Setting[];
  all(): Promise<readonly Setting[]>;
  /**
   * The same settings as data, enough to check a file (kind, bounds, choices...; no conversion for `run`): from
   * the table the build wrote (dist/settings.json) when there is one, so that a file setting a command's key
   * does not load every command module on every run. Absent: all().
   */
  forFiles?(): Promise<readonly Setting[]>;
}

/** A catalog of the given settings only (a unit test, or before the command tree is known). */
export function fixedCatalog(settings: readonly Setting[]): SettingsCatalog {
  return { shared: settings, all: async () => settings };
}

/**
 * The union of declarations. The same object may appear many times (a shared option used by several commands);
 * two different declarations of one key or one variable are a bug in byoc, reported here instead of one
 * silently winning.
 */
export function uniqueSettings(settings: Iterable<Setting>): Setting[] {
  const byKey = new Map<string, Setting>();
  const byEnv = new Map<string, Setting>();
  for (const setting of settings) {
    const sameKey = byKey.get(setting.key);
    if (sameKey === setting) continue;
    if (sameKey) throw new Error(`setting ${setting.key} is declared twice: declare it once in src/options.ts and use it from both commands`);
    const sameEnv = byEnv.get(setting.env);
    if (sameEnv) throw new Error(`${setting.env} is declared for both ${sameEnv.key} and ${setting.key}`);
    byKey.set(setting.key, setting);
    byEnv.set(setting.env, setting);
  }
  return [...byKey.values()];
}

/** A default as help, `config show` and the README print it. */
export function describeDefault(setting: Setting): string | undefined {
  if (setting.defaultNote !== undefined) return setting.defaultNote;
  const value = setting.default;
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length ? value.join(',') : undefined;
  return String(value);
}

/** A setting as JSON holds it: its pattern as source and flags. */
export type SettingData = Omit<Setting, 'pattern'> & { pattern?: { source: string; flags: string } };

const SETTING_FIELDS = ['key', 'env', 'kind', 'description', 'default', 'defaultNote', 'inFile', 'min', 'max', 'choices', 'schemes', 'pattern', 'expects'] as const;

/** The settings as data (an option's commander syntax and conversion dropped), for dist/settings.json. */
export function settingsData(settings: readonly Setting[]): SettingData[] {
  return settings.map((setting) => {
    const data: Record<string, unknown> = {};
    for (const field of SETTING_FIELDS) if (setting[field] !== undefined) data[field] = setting[field];
    if (setting.pattern) data.pattern = { source: setting.pattern.source, flags: setting.pattern.flags };
    return data as SettingData;
  });
}

/** Settings back from their data. */
export function settingsFromData(data: readonly SettingData[]): Setting[] {
  return data.map(({ pattern, ...setting }) => (pattern ? { ...setting, pattern: new RegExp(pattern.source, pattern.flags) } : setting));
}
