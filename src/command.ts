import type { ReactNode } from 'react';
import type { Configuration, FlagValue } from './config/configuration.js';
import { coerce } from './config/coerce.js';
import { settingOrThrow, type Setting, type SettingKind } from './config/settings.js';
import type { Context, OutputStream } from './context.js';
import { UsageError, type ByocError } from './errors.js';
import { parseDuration } from './util/duration.js';

/** A positional argument. Values reach `run` under the argument's key. */
export interface ArgSpec {
  description: string;
  required?: boolean;
  variadic?: boolean;
  choices?: readonly string[];
}

/**
 * A flag. Every flag names a setting (config key + BYOC_* variable), so flag > env > file > default holds for all
 * of them; `T` is the value `run` receives.
 */
export interface OptionSpec<T = unknown> {
  flags: string;
  setting: string;
  description: string;
  kind: SettingKind;
  choices?: readonly string[];
  /** From the coerced setting value to what run receives. */
  convert: (value: unknown) => T;
  /** phantom, for inference */
  readonly __type?: T;
}

const identity = <T>(value: unknown) => value as T;

export const option = {
  string: (flags: string, setting: string, description: string): OptionSpec<string | undefined> => ({
    flags, setting, description, kind: 'string', convert: identity,
  }),
  path: (flags: string, setting: string, description: string): OptionSpec<string | undefined> => ({
    flags, setting, description, kind: 'path', convert: identity,
  }),
  url: (flags: string, setting: string, description: string): OptionSpec<string | undefined> => ({
    flags, setting, description, kind: 'url', convert: identity,
  }),
  boolean: (flags: string, setting: string, description: string): OptionSpec<boolean | undefined> => ({
    flags, setting, description, kind: 'boolean', convert: identity,
  }),
  integer: (flags: string, setting: string, description: string): OptionSpec<number | undefined> => ({
    flags, setting, description, kind: 'integer', convert: identity,
  }),
  list: (flags: string, setting: string, description: string): OptionSpec<string[] | undefined> => ({
    flags, setting, description, kind: 'list', convert: identity,
  }),
  /** Durations reach `run` in milliseconds. */
  duration: (flags: string, setting: string, description: string): OptionSpec<number | undefined> => ({
    flags, setting, description, kind: 'duration',
    convert: (value) => (value === undefined ? undefined : parseDuration(String(value))),
  }),
  /**
   * A duration kept as the user typed it (validated like any duration), for values that are stored and shown back:
   * a request's `--duration 1h30m10s` stays `1h30m10s`, and `90m` stays `90m`.
   */
  durationText: (flags: string, setting: string, description: string): OptionSpec<string | undefined> => ({
    flags, setting, description, kind: 'duration',
    convert: (value) => (value === undefined ? undefined : String(value).trim()),
  }),
  choice: <const C extends readonly string[]>(
    flags: string,
    setting: string,
    description: string,
    choices: C,
  ): OptionSpec<C[number] | undefined> => ({
    flags, setting, description, kind: 'string', choices, convert: identity,
  }),
};

export type ArgValues<A extends Record<string, ArgSpec>> = {
  [K in keyof A]: A[K]['variadic'] extends true ? string[] : A[K]['required'] extends true ? string : string | undefined;
};

export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends OptionSpec<infer T> ? T : never;
};

export interface RenderContext {
  now: Date;
  color: boolean;
  columns: number;
}

export type TextOutput = string | AsyncIterable<string | Uint8Array>;

/** A JSON rendering that is already text (a large document streamed in chunks): written as is. */
export class RawJson {
  constructor(readonly chunks: AsyncIterable<string | Uint8Array>) {}
}

export interface CommandDefinition<
  A extends Record<string, ArgSpec> = Record<string, ArgSpec>,
  O extends Record<string, OptionSpec> = Record<string, OptionSpec>,
  R = unknown,
> {
  description: string;
  /** Shown under "Examples" in --help; keep them runnable. */
  examples?: readonly string[];
  args?: A;
  options?: O;
  hidden?: boolean;
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

export type AnyCommand = CommandDefinition<any, any, any>;

export function defineCommand<
  const A extends Record<string, ArgSpec> = Record<never, ArgSpec>,
  const O extends Record<string, OptionSpec> = Record<never, OptionSpec>,
  R = unknown,
>(definition: CommandDefinition<A, O, R>): CommandDefinition<A, O, R> {
  return definition;
}

/** Raw parse results from the command line, before precedence. */
export interface RawInvocation {
  args: Record<string, string | string[] | undefined>;
  /** Option values commander saw on the command line (only those actually given). */
  flags: Record<string, unknown>;
  /** the command's path (`access request`), so hints can name it */
  command?: string;
}

/** Resolves every option by flag > env > file > default, typing it from its setting. */
export async function resolveInput(
  definition: AnyCommand,
  raw: RawInvocation,
  ctx: Context,
): Promise<Record<string, unknown>> {
  const input: Record<string, unknown> = { ...raw.args };
  const options = Object.entries((definition.options ?? {}) as Record<string, OptionSpec>);
  let configuration: Configuration | undefined;
  for (const [name, spec] of options) {
    const setting = settingOrThrow(spec.setting);
    let flag: FlagValue | undefined;
    if (raw.flags[name] !== undefined) {
      const given = raw.flags[name];
      const value = typeof given === 'string' ? coerceFlag(spec, setting, given, raw.command) : given;
      flag = { value, flag: flagName(spec.flags) };
    }
    configuration ??= await ctx.config();
    const resolved = configuration.resolve(spec.setting, flag);
    if (spec.choices && resolved.value !== undefined && !spec.choices.includes(String(resolved.value))) {
      throw new UsageError('invalid_choice', `${resolved.origin ?? spec.setting}: "${String(resolved.value)}" is not one of ${spec.choices.join(', ')}`, {
        hint: `Use one of: ${spec.choices.join(', ')}.`,
      });
    }
    input[name] = spec.convert(resolved.value);
  }
  return input;
}

function coerceFlag(spec: OptionSpec, setting: Setting, raw: string, command: string | undefined): unknown {
  const coerced = coerce({ key: spec.setting, env: '', kind: setting.kind, description: '' }, raw);
  if ('problem' in coerced) {
    throw new UsageError('invalid_flag_value', `${flagName(spec.flags)}: ${coerced.problem}`, { hint: flagValueHint(spec, setting, command) });
  }
  return coerced.value;
}

const EXAMPLE_BY_KIND: Partial<Record<SettingKind, string>> = { duration: '30m', integer: '3', boolean: 'true', url: 'https://broker.example:8443' };

/** A value that would be accepted (the default when there is one) and where the flag is described. */
function flagValueHint(spec: OptionSpec, setting: Setting, command: string | undefined): string {
  const help = `byoc ${command ? `${command} ` : ''}--help`;
  const fallback = typeof setting.default === 'string' || typeof setting.default === 'number' ? `${setting.default} (the default)` : EXAMPLE_BY_KIND[setting.kind];
  return fallback ? `For example: ${flagName(spec.flags)} ${fallback}; see: ${help}.` : `See: ${help}.`;
}

export function flagName(flags: string): string {
  return flags.split(/[ ,]/).find((part) => part.startsWith('--'))!.replace('[no-]', '');
}

/** Runs a command and writes exactly one rendering of its result to stdout. */
export async function runCommand(definition: AnyCommand, raw: RawInvocation, ctx: Context): Promise<ByocError | undefined> {
  const input = await resolveInput(definition, raw, ctx);
  const result = await definition.run(input as never, ctx);
  await renderResult(definition, result, ctx);
  return definition.outcome?.(result);
}

export async function renderResult(definition: AnyCommand, result: unknown, ctx: Context): Promise<void> {
  const { stdout } = ctx.io;
  const render: RenderContext = { now: ctx.clock.now(), color: ctx.output.color, columns: stdout.columns ?? 80 };
  if (ctx.output.json) {
    const document = definition.json ? definition.json(result) : result;
    if (document instanceof RawJson) {
      for await (const chunk of document.chunks) await write(stdout, chunk);
      return;
    }
    if (isAsyncIterable(document)) {
      for await (const item of document) await write(stdout, `${JSON.stringify(item)}\n`);
    } else {
      await write(stdout, `${JSON.stringify(document, null, 2)}\n`);
    }
    return;
  }
  const view = ctx.output.stdoutIsTTY && definition.view ? await definition.view(result, render) : undefined;
  if (view !== undefined && view !== null) {
    const [{ renderToString }, { stripVTControlCharacters }] = await Promise.all([import('ink'), import('node:util')]);
    const rendered = renderToString(view, { columns: render.columns });
    await write(stdout, `${render.color ? rendered : stripVTControlCharacters(rendered)}\n`);
    return;
  }
  const text = definition.text(result, render);
  if (typeof text === 'string') {
    if (text !== '') await write(stdout, text.endsWith('\n') ? text : `${text}\n`);
    return;
  }
  for await (const chunk of text) await write(stdout, chunk);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

/** Writes with backpressure so streamed results keep memory flat. */
export async function write(stream: OutputStream, chunk: string | Uint8Array): Promise<void> {
  if (stream.write(chunk) || !stream.once) return;
  await new Promise<void>((resolve) => stream.once!('drain', resolve));
}

/** Tab-separated rows for pipes; columns never contain tabs or newlines. */
export function tsv(rows: readonly (readonly unknown[])[]): string {
  return rows.map((row) => row.map((cell) => formatCell(cell).replace(/[\t\n]/g, ' ')).join('\t')).join('\n');
}

function formatCell(cell: unknown): string {
  if (cell === undefined || cell === null) return '';
  if (cell instanceof Date) return cell.toISOString();
  if (typeof cell === 'object') return JSON.stringify(cell);
  return String(cell);
}
