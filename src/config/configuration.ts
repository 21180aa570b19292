import path from 'node:path';
import type { Env } from '../context.js';
import { ConfigError } from '../errors.js';
import { SHARED_SETTINGS } from '../options.js';
import { closest } from '../util/suggest.js';
import { checkValue, expected } from './kinds.js';
import type { OptionSpec } from '../command/definition.js';
import type { ConfigFile } from './load.js';
import type { ConfigData, PolicyConfig, ServiceConfig } from './schema.js';
import { fixedCatalog, type Setting, type SettingsCatalog } from './settings.js';
import type { StateService } from './state-services.js';

type Source = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedValue {
  key: string;
  value: unknown;
  /** undefined when nothing set it and it has no default */
  source: Source | undefined;
  /** the flag, environment variable or file path that supplied the value */
  origin?: string;
}

export interface FlagValue {
  value: unknown;
  flag: string;
}

/**
 * The effective configuration: flag > BYOC_* env > file > default, resolved per key, with the source of
 * each value kept for `byoc config show`.
 */
export class Configuration {
  constructor(
    readonly file: ConfigFile,
    private readonly env: Env,
    private readonly flags: ReadonlyMap<string, FlagValue> = new Map(),
    /** services registered in the state folder (the sandbox); configured ones win */
    private readonly registered: Record<string, StateService> = {},
    /** every setting there is, for `config show` and for keys named by text (`get('broker.url')`) */
    readonly catalog: SettingsCatalog = fixedCatalog(SHARED_SETTINGS),
  ) {}

  get data(): ConfigData {
    return this.file.data;
  }

  /**
   * One setting's value and where it came from. A variable is checked here, by its kind's validator, and a bad
   * one is a configuration error (exit 3) naming it; a file value was checked when the file was read; a flag by
   * the caller (a usage error, exit 2).
   */
  resolve(setting: Setting | string, flag: FlagValue | undefined = this.flags.get(typeof setting === 'string' ? setting : setting.key)): ResolvedValue {
    const spec = typeof setting === 'string' ? this.known(setting) : setting;
    const { key } = spec;
    if (flag && flag.value !== undefined) return { key, value: flag.value, source: 'flag', origin: flag.flag };
    const raw = this.env[spec.env];
    if (raw !== undefined && raw !== '') {
      const checked = checkValue(spec, raw);
      if ('problem' in checked) {
        throw new ConfigError('config_invalid_env', `${spec.env}: ${checked.problem}`, {
          hint: `Set ${spec.env} to ${expected(spec)}, or unset it${spec.inFile === false ? '' : ` (it overrides ${key} in the configuration file)`}.`,
        });
      }
      return { key, value: checked.value, source: 'env', origin: spec.env };
    }
    const fromFile = spec.inFile === false ? undefined : valueAt(this.file.data, key);
    if (fromFile !== undefined) return { key, value: fromFile, source: 'file', origin: this.file.path! };
    if (spec.default !== undefined) return { key, value: spec.default, source: 'default' };
    return { key, value: undefined, source: undefined };
  }

  get<T>(setting: Setting | string): T | undefined {
    return this.resolve(setting).value as T | undefined;
  }

  /** An option's value as a command's `run` would receive it (a duration in milliseconds), typed by its declaration. */
  value<T>(spec: OptionSpec<T>): T {
    return spec.toRun(this.resolve(spec).value);
  }

  /** Every setting (each command's included), then every other value the file sets (services, resolve overrides, ...). */
  async entries(): Promise<ResolvedValue[]> {
    const settings = (await this.catalog.all()).filter((setting) => setting.inFile !== false);
    const known = settings.map((setting) => this.resolve(setting));
    const knownKeys = new Set(known.map((entry) => entry.key));
    const fromFile = leaves(this.file.data)
      .filter(([key]) => !knownKeys.has(key))
      .map(([key, value]): ResolvedValue => ({ key, value, source: 'file', origin: this.file.path! }));
    return [...known, ...fromFile];
  }

  /** The global policy as the broker applies it: each key by flag > env > file > default, like any setting. */
  policy(): Required<PolicyConfig> {
    return {
      approvers: this.get<string[]>('policy.approvers')!,
      approvals: this.get<number>('policy.approvals')!,
      maxDuration: this.get<string>('policy.maxDuration')!,
      pendingTtl: this.get<string>('policy.pendingTtl')!,
    };
  }

  private known(key: string): Setting {
    const setting = this.catalog.shared.find((candidate) => candidate.key === key);
    if (!setting) throw new Error(`unknown shared setting ${key}: declare it in src/options.ts, or resolve the command's option itself`);
    return setting;
  }

  services(): Record<string, ServiceConfig> {
    const registered = Object.fromEntries(
      Object.entries(this.registered).map(([name, { resolve: _resolve, caFile, policy: _policy, ...service }]) => [
        name,
        caFile && service.clickhouse ? { ...service, clickhouse: { caFile, ...service.clickhouse } } : service,
      ]),
    );
    return { ...registered, ...(this.file.data.services ?? {}) };
  }

  /** Where each service comes from: the configuration file (which wins) or the state folder (`byoc sandbox up`). */
  serviceOrigins(): Record<string, { from: 'file'; path: string } | { from: 'state' }> {
    const fromFile = Object.keys(this.file.data.services ?? {});
    return Object.fromEntries(
      Object.keys(this.services()).map((name) => [name, fromFile.includes(name) ? { from: 'file' as const, path: this.file.path ?? '' } : { from: 'state' as const }]),
    );
  }

  /** Registered services' policies, for the broker. */
  registeredPolicies(): Record<string, { policy?: PolicyConfig }> {
    return Object.fromEntries(Object.entries(this.registered).map(([name, service]) => [name, service.policy ? { policy: service.policy } : {}]));
  }

  /** Name overrides: the file's network.resolve over those of registered services. */
  resolveOverrides(): Record<string, string> {
    const fromRegistered = Object.values(this.registered).map((service) => service.resolve ?? {});
    return Object.assign({}, ...fromRegistered, this.file.data.network?.resolve ?? {});
  }

  /** A file path from the configuration, relative to the file it was written in. */
  pathFromFile(value: string): string {
    return this.file.path ? path.resolve(path.dirname(this.file.path), value) : path.resolve(value);
  }

  service(name: string): ServiceConfig {
    const services = this.services();
    const found = services[name];
    if (found) return found;
    const names = Object.keys(services);
    const guess = closest(name, names);
    throw new ConfigError('service_unknown', `no service named "${name}" is configured`, {
      hint: guess
        ? `Did you mean "${guess}"? Configured services: ${names.join(', ')}.`
        : names.length
          ? `Configured services: ${names.join(', ')}.`
          : `Add it under services.${name} in your byoc configuration (see: byoc config show).`,
    });
  }
}

function valueAt(data: unknown, key: string): unknown {
  let current: unknown = data;
  for (const segment of key.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function leaves(data: unknown, prefix = ''): [string, unknown][] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return prefix ? [[prefix, data]] : [];
  return Object.entries(data as Record<string, unknown>).flatMap(([key, value]) =>
    leaves(value, prefix ? `${prefix}.${key}` : key),
  );
}
