import type { FlagValue } from '../config/configuration.js';
import { checkValue } from '../config/kinds.js';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { flagName, type AnyCommand, type OptionSpec } from './definition.js';

/**
 * Input resolution: every option by flag > BYOC_* variable > file > default, each value checked by the one
 * validator of its kind (src/config/kinds.ts). A bad flag is a usage error (exit 2); a bad variable or file
 * value is a configuration error (exit 3) naming the variable or the key (src/config/configuration.ts).
 */

/** Raw parse results from the command line, before precedence. */
export interface RawInvocation {
  args: Record<string, string | string[] | undefined>;
  /** Option values commander saw on the command line (only those actually given). */
  flags: Record<string, unknown>;
  /** The command's words (`access request`), for hints. */
  command?: string;
}

export async function resolveInput(definition: AnyCommand, raw: RawInvocation, ctx: Context): Promise<Record<string, unknown>> {
  const input: Record<string, unknown> = { ...raw.args };
  const options = Object.entries((definition.options ?? {}) as Record<string, OptionSpec>);
  if (options.length === 0) return input;
  const configuration = await ctx.config();
  for (const [name, spec] of options) {
    const given = raw.flags[name];
    const flag: FlagValue | undefined = given === undefined ? undefined : { value: checkFlag(spec, given, raw.command), flag: shownFlag(spec, given) };
    input[name] = spec.toRun(configuration.resolve(spec, flag).value);
  }
  return input;
}

/** A flag's value through its kind's validator; commander already made booleans of switches. */
export function checkFlag(spec: OptionSpec, given: unknown, command?: string): unknown {
  if (typeof given !== 'string') return given;
  const checked = checkValue(spec, given);
  if ('problem' in checked) {
    const flag = shownFlag(spec, given);
    const help = `see 'byoc ${command ? `${command} ` : ''}--help' for ${flag}${spec.env ? ` (or set ${spec.env})` : ''}.`;
    const example = exampleOf(spec);
    throw new UsageError('invalid_flag_value', `${flag}: ${checked.problem}`, { hint: example ? `For example: ${flag} ${example}; ${help}` : `${help[0]!.toUpperCase()}${help.slice(1)}` });
  }
  return checked.value;
}

const EXAMPLE_BY_KIND: Partial<Record<OptionSpec['kind'], string>> = { duration: '30m', integer: '3', url: 'https://broker.example:8443' };

/** A value that would be accepted: the default when it is one, else one of the choices, else one of its kind. */
function exampleOf(spec: OptionSpec): string | undefined {
  if (typeof spec.default === 'string' || typeof spec.default === 'number') return `${spec.default} (the default)`;
  if (spec.choices?.length) return spec.choices[0];
  return EXAMPLE_BY_KIND[spec.kind];
}

function shownFlag(spec: OptionSpec, given: unknown): string {
  const flag = flagName(spec.flags ?? `--${spec.key}`);
  return given === false && spec.flags?.includes('--[no-]') ? `--no-${flag.slice(2)}` : flag;
}
