/**
 * The one place that reads command definitions for completion: how a command declares its flags and arguments
 * may change (one declaration per option), and only these functions follow it.
 */
import type { ListFilter } from '../access/types.js';
import type { AnyCommand, ArgSpec, OptionSpec } from '../command.js';
import { GLOBAL_OPTIONS } from '../options.js';
import type { CompletionArg, CompletionFlag, ValueSource } from './model.js';

/** Which request ids each command that takes one offers: those its user can act on there. */
const REQUEST_IDS: Record<string, readonly ListFilter[]> = {
  'access approve': [{ reviewable: true }],
  'access deny': [{ reviewable: true }],
  'access wait': [{ mine: true, status: 'pending' }, { reviewable: true }],
  'access revoke': [{ status: 'approved' }],
  'access show': [{ mine: true }, { reviewable: true }],
  'access operator-config': [{ status: 'approved' }, { status: 'revoked' }, { status: 'expired' }],
};

/** Flags whose values byoc knows by name: services and presets. */
const NAMED_VALUES: Record<string, ValueSource> = {
  '--service': { kind: 'services' },
  '--preset': { kind: 'presets' },
};

export function flagsOf(command: AnyCommand): CompletionFlag[] {
  return Object.values((command.options ?? {}) as Record<string, OptionSpec>).flatMap((spec) => (spec.flags ? [flagOf(spec, spec.flags)] : []));
}

function flagOf(spec: OptionSpec, flags: string): CompletionFlag {
  {
    const long = flags.split(/[ ,]/).find((part) => part.startsWith('--'))!;
    const short = flags.split(/[ ,]/).find((part) => /^-[^-]$/.test(part));
    const takesValue = /[<[]/.test(flags);
    const names = long.startsWith('--[no-]') ? [long.replace('[no-]', ''), long.replace('[no-]', 'no-')] : [long];
    const values: ValueSource = spec.choices
      ? { kind: 'choices', choices: spec.choices }
      : spec.kind === 'path'
        ? { kind: 'files' }
        : (NAMED_VALUES[names[0]!] ?? { kind: 'none' });
    return { names: short ? [...names, short] : names, takesValue, description: spec.description, values: takesValue ? values : { kind: 'none' } };
  }
}

/** Arguments by their declared name: `service` is a service, `id` a request id, `file` a file. */
export function argsOf(command: AnyCommand, path: string): CompletionArg[] {
  return Object.entries((command.args ?? {}) as Record<string, ArgSpec>).map(([name, spec]) => {
    const values: ValueSource = spec.choices
      ? { kind: 'choices', choices: spec.choices }
      : name === 'service'
        ? { kind: 'services' }
        : name === 'id' && REQUEST_IDS[path]
          ? { kind: 'requests', filters: REQUEST_IDS[path] }
          : name === 'file'
            ? { kind: 'files' }
            : { kind: 'none' };
    return { name, description: spec.description, variadic: spec.variadic ?? false, values };
  });
}

export function globalFlags(): CompletionFlag[] {
  return [
    ...Object.values(GLOBAL_OPTIONS as Record<string, OptionSpec>).flatMap((spec) => (spec.flags ? [flagOf(spec, spec.flags)] : [])),
    { names: ['--help', '-h'], takesValue: false, description: 'show help', values: { kind: 'none' } },
  ];
}
