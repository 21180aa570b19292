import type { Env } from '../context.js';
import { ConfigError } from '../errors.js';
import { closest } from '../util/suggest.js';
import { coerce } from './coerce.js';
import type { ConfigFile } from './load.js';
import path from 'node:path';
import type { ConfigData, PolicyConfig, ServiceConfig } from './schema.js';
import type { StateService } from './state-services.js';
import { SETTINGS, settingOrThrow } from './settings.js';

export type Source = 'flag' | 'env' | 'file' | 'default';

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
  ) {}

  get data(): ConfigData {
    return this.file.data;
  }

  resolve(key: string, flag: FlagValue | undefined = this.flags.get(key)): ResolvedValue {
    const setting = settingOrThrow(key);
    if (flag && flag.value !== undefined) return { key, value: flag.value, source: 'flag', origin: flag.flag };
    const raw = this.env[setting.env];
    if (raw !== undefined && raw !== '') {
      const coerced = coerce(setting, raw);
      if ('problem' in coerced) {
        throw new ConfigError('config_invalid_env', `${setting.env}: ${coerced.problem}`, {
          hint: `Fix or unset ${setting.env} (it sets ${key}).`,
        });
      }
      return { key, value: coerced.value, source: 'env', origin: setting.env };
    }
    const fromFile = valueAt(this.file.data, key);
    if (fromFile !== undefined) return { key, value: fromFile, source: 'file', origin: this.file.path! };
    if (setting.default !== undefined) return { key, value: setting.default, source: 'default' };
    return { key, value: undefined, source: undefined };
  }

  get<T>(key: string): T | undefined {
    return this.resolve(key).value as T | undefined;
  }

  /** Every known setting, then every other value the file sets (services, resolve overrides, ...). */
  entries(): ResolvedValue[] {
    const known = SETTINGS.map((setting) => this.resolve(setting.key));
    const knownKeys = new Set(known.map((entry) => entry.key));
    const fromFile = leaves(this.file.data)
      .filter(([key]) => !knownKeys.has(key))
      .map(([key, value]): ResolvedValue => ({ key, value, source: 'file', origin: this.file.path! }));
    return [...known, ...fromFile];
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

export function valueAt(data: unknown, key: string): unknown {
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
