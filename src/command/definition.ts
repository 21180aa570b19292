import type { ReactNode } from 'react';
import type { Setting } from '../config/settings.js';
import type { Context } from '../context.js';
import type { ByocError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import type { RenderContext, TextOutput } from './render.js';

/** A positional argument. Values reach `run` under the argument's key. */
export interface ArgSpec {
  description: string;
  required?: boolean;
  variadic?: boolean;
  choices?: readonly string[];
}

/**
 * An option: a setting (config key, BYOC_* variable, kind, default, description) with, usually, a flag. It is
 * the only declaration: help, the config schema, `config show`, the README's table and completion read it.
 * `T` is what `run` receives: present (not undefined) when the option has a default.
 */
export interface OptionSpec<T = unknown> extends Setting {
  /** commander's syntax: `--count <n>`, `--[no-]wait`, `--json`; absent for a setting with no flag. */
  readonly flags?: string;
  /** From the checked value (file form) to what `run` receives. */
  toRun(value: unknown): T;
  /** phantom, for inference */
  readonly __type?: T;
}

/** What every declaration says; `D` is the default, which decides whether `run` may see undefined. */
interface Declared<D> {
  /** commander's syntax; omit for a setting only a variable or the file sets */
  flag?: string;
  key: string;
  env: string;
  description: string;
  default?: D;
  /** help and README text for a default worked out at run time */
  defaultNote?: string;
  inFile?: boolean;
}

type Present<T, D> = [D] extends [undefined] ? T | undefined : T;

/** An option as declared: its default keeps its literal type, for domain code that needs it (defaultOf). */
export type Declaration<T, D> = OptionSpec<Present<T, D>> & { readonly default: D };

function declare<T, D>(kind: Setting['kind'], declared: Declared<D> & Partial<Setting>, toRun: (value: unknown) => unknown): Declaration<T, D> {
  const { flag, ...rest } = declared;
  const spec = { ...rest, kind, toRun } as Record<string, unknown>;
  if (flag !== undefined) spec.flags = flag;
  if (spec.default === undefined) delete spec.default;
  return spec as unknown as Declaration<T, D>;
}

const same = (value: unknown) => value;

export const option = {
  string: <const D extends string | undefined = undefined>(d: Declared<D> & { pattern?: RegExp; expects?: string }) => declare<string, D>('string', d, same),
  path: <const D extends string | undefined = undefined>(d: Declared<D>) => declare<string, D>('path', d, same),
  /** `schemes` limits the protocols (`['http', 'https']`). */
  url: <const D extends string | undefined = undefined>(d: Declared<D> & { schemes?: readonly string[] }) => declare<string, D>('url', d, same),
  boolean: <const D extends boolean | undefined = undefined>(d: Declared<D>) => declare<boolean, D>('boolean', d, same),
  integer: <const D extends number | undefined = undefined>(d: Declared<D> & { min?: number; max?: number }) => declare<number, D>('integer', d, same),
  /** Written as text (`30m`, `1h30m`); `run` receives milliseconds. */
  duration: <const D extends string | undefined = undefined>(d: Declared<D>) =>
    declare<number, D>('duration', d, (value) => (value === undefined ? undefined : parseDuration(String(value)))),
  /** A duration kept as typed (`1h30m10s`), for values stored as asked, such as a request's duration. */
  durationText: <const D extends string | undefined = undefined>(d: Declared<D>) =>
    declare<string, D>('duration', d, (value) => (value === undefined ? undefined : String(value).trim())),
  choice: <const C extends readonly string[], const D extends C[number] | undefined = undefined>(d: Declared<D> & { choices: C }) =>
    declare<C[number], D>('choice', d, same),
  /** Comma-separated on a flag or in a variable, a YAML list in a file; `choices` limits the items. */
  list: <const D extends readonly string[] | undefined = undefined>(d: Declared<D> & { choices?: readonly string[] }) =>
    declare<string[], D>('list', d, (value) => (value === undefined ? undefined : [...(value as string[])])),
};

type ArgValues<A extends Record<string, ArgSpec>> = {
  [K in keyof A]: A[K]['variadic'] extends true ? string[] : A[K]['required'] extends true ? string : string | undefined;
};

type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends OptionSpec<infer T> ? T : never;
};

/**
 * A command. Its description and visibility live in the manifest (commands/index.ts), the one copy help reads
 * without loading any command module.
 */
export interface CommandDefinition<
  A extends Record<string, ArgSpec> = Record<string, ArgSpec>,
  O extends Record<string, OptionSpec> = Record<string, OptionSpec>,
  R = unknown,
> {
  /** Shown under "Examples" in --help; keep them runnable. */
  examples?: readonly string[];
  args?: A;
  options?: O;
  /**
   * The configuration file this invocation reads instead of --config, BYOC_CONFIG or the search: `config validate
   * FILE` checks FILE whatever file the folder holds.
   */
  configFile?(args: ArgValues<A>): string | undefined;
  /**
   * The command reports a configuration that fails to load (exit 3) itself, as the doctor's first step does:
   * it still runs, output settings come from flags and variables, and `ctx.config()` rejects with the error.
   */
  reportsConfigErrors?: boolean;
  /**
   * A server whose normal end is Ctrl-C or SIGTERM (`broker serve`): when it finishes after the signal it exits 0.
   * Any other command that finishes after a signal exits 130 (interrupted), since its work was cut short.
   */
  stopsOnSignal?: boolean;
  run(input: ArgValues<A> & OptionValues<O>, ctx: Context): Promise<R>;
  /** The --json document (default: the result). An async iterable prints NDJSON. */
  json?(result: R): unknown;
  /** Plain text for pipes: ISO times, tab-separated columns, no ANSI. */
  text(result: R, render: RenderContext): TextOutput;
  /** The ink view on a TTY; falls back to text when absent or when it returns undefined. Import ink/react lazily inside. */
  view?(result: R, render: RenderContext): Promise<ReactNode | undefined>;
  /** A result that is printed but still ends non-zero (pending, refused, relayed...). */
  outcome?(result: R): ByocError | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any command, whatever its argument, option and result types: a registry cannot name them
export type AnyCommand = CommandDefinition<any, any, any>;

export function defineCommand<
  const A extends Record<string, ArgSpec> = Record<never, ArgSpec>,
  const O extends Record<string, OptionSpec> = Record<never, OptionSpec>,
  R = unknown,
>(definition: CommandDefinition<A, O, R>): CommandDefinition<A, O, R> {
  return definition;
}

/** An option's declared default as `run` would receive it (domain code that has no configuration at hand). */
export function defaultOf<T>(spec: OptionSpec<T>): T {
  return spec.toRun(spec.default);
}

/** The long flag of a commander flag syntax: `--[no-]wait <x>` gives `--wait`. */
export function flagName(flags: string): string {
  return flags.split(/[ ,]/).find((part) => part.startsWith('--'))!.replace('[no-]', '');
}

/** One flag a command accepts, for help, completion and the README. */
export interface FlagInfo {
  /** the option's name in `run`'s input (commander's attribute name) */
  name: string;
  /** `--count` */
  flag: string;
  /** `--no-wait` for a negatable flag */
  negation?: string;
  /** whether the flag takes a value (`--count <n>`), and its placeholder */
  value?: string;
  spec: OptionSpec;
}

/** The flags of a command, in declaration order: what completion and other tooling list. */
export function commandFlags(definition: Pick<AnyCommand, 'options'>): FlagInfo[] {
  return Object.entries((definition.options ?? {}) as Record<string, OptionSpec>).flatMap(([name, spec]) => {
    if (!spec.flags) return [];
    const flag = flagName(spec.flags);
    const value = /<[^>]+>|\[[^\]]+\]$/.exec(spec.flags.replace('--[no-]', '--'))?.[0];
    return [{
      name,
      flag,
      ...(spec.flags.includes('--[no-]') ? { negation: `--no-${flag.slice(2)}` } : {}),
      ...(value ? { value } : {}),
      spec,
    }];
  });
}

/** The settings a command's options declare (with a flag or not). */
export function commandSettings(definition: Pick<AnyCommand, 'options'>): OptionSpec[] {
  return Object.values((definition.options ?? {}) as Record<string, OptionSpec>);
}
