import { Command, CommanderError, Option } from 'commander';
import type { FlagValue } from './config/configuration.js';
import { flagName, runCommand, type AnyCommand, type OptionSpec, type RawInvocation } from './command.js';
import { createContext, decideColor, type ContextBase, type OutputMode } from './context.js';
import { ByocError, exitCodeFor, toErrorDocument, UsageError } from './errors.js';
import { groups, manifest } from '../commands/index.js';
import { settingOrThrow } from './config/settings.js';
import { coerce } from './config/coerce.js';
import { GLOBAL_FLAGS } from './globals.js';

const ROOT_EXAMPLES = [
  'byoc access request acme-prod --reason "merges stuck" --ticket INC-42',
  'byoc cert get acme-prod',
  'byoc connect check acme-prod --require-direct',
  "byoc query acme-prod 'SELECT * FROM system.merges'",
  'byoc config show --json',
];

interface Invocation {
  definition: AnyCommand;
  command: Command;
  raw: RawInvocation;
}

/**
 * Parses argv, runs one command and returns the exit code. The only place where errors become exit codes.
 */
export async function main(argv: readonly string[], base: ContextBase): Promise<number> {
  const earlyJson = argv.includes('--json') || envBoolean(base.env, 'output.json', false);
  let invocation: Invocation | undefined;
  const { program, nodes } = buildProgram(base);
  try {
    const words = normaliseArgv(argv, program);
    const target = manifest.find((entry) => entry.file === commandPathOf(words, program).join('/'));
    if (target) attachDefinition(nodes.get(target.file.replaceAll('/', ' '))!, await target.load(), (found) => (invocation = found));
    try {
      await program.parseAsync(words, { from: 'user' });
    } catch (error) {
      if (error instanceof CommanderError) {
        if (error.exitCode === 0) return 0;
        throw usageFromCommander(error, commandPathOf(argv, program).join(' '));
      }
      throw error;
    }
    if (!invocation) return 0;
    const { definition, command, raw } = invocation;
    const globals = command.optsWithGlobals() as Record<string, unknown>;
    const flags = new Map<string, FlagValue>();
    for (const global of GLOBAL_FLAGS) {
      if (command.getOptionValueSourceWithGlobals(global.name) === 'cli') flags.set(global.setting, { value: globals[global.name], flag: global.flags });
    }
    const output = await decideOutput(base, flags);
    const ctx = createContext(base, { configFile: configFileOf(globals, base), flags, output });
    const outcome = await runCommand(definition, raw, ctx);
    if (outcome) {
      reportError(outcome, base, output.json, output.verbose);
      return outcome.exitCode;
    }
    return 0;
  } catch (error) {
    const verbose = argv.includes('--verbose') || envBoolean(base.env, 'output.verbose', false);
    reportError(error, base, earlyJson, verbose);
    return exitCodeFor(error);
  }
}

/**
 * The command tree with every command's name and description, from the manifest alone: listing commands
 * (help, suggestions for typos) loads no command module.
 */
function buildProgram(base: ContextBase): { program: Command; nodes: Map<string, Command> } {
  const program = new Command('byoc')
    .description(
      'Troubleshooting access to BYOC ClickHouse deployments over Tailscale: time-bound access requests, ' +
        'short-lived certificates, path checks, read-only system-table queries, Kubernetes access and audit.',
    )
    .version(base.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--config <file>', 'configuration file (env: BYOC_CONFIG); default: searched from the current folder')
    .helpCommand(false)
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `\nExamples:\n${ROOT_EXAMPLES.map((line) => `  $ ${line}`).join('\n')}\n\nExit codes: byoc help exit-codes.  Docs: README.md.`);
  for (const global of GLOBAL_FLAGS) {
    const setting = settingOrThrow(global.setting);
    program.addOption(new Option(global.flags, `${global.description} (env: ${setting.env})`));
  }
  configureOutput(program, base);

  // One commander command per path: a path can be both a command and a group (`query` and `query presets`).
  const nodes = new Map<string, Command>([['', program]]);
  const nodeFor = (segments: string[], hidden = false): Command => {
    const key = segments.join(' ');
    const existing = nodes.get(key);
    if (existing) return existing;
    const parent = nodeFor(segments.slice(0, -1));
    const node = parent.command(segments.at(-1)!, { hidden }).description(groups[key] ?? '').helpCommand(false);
    configureOutput(node, base);
    nodes.set(key, node);
    return node;
  };

  for (const entry of manifest) nodeFor(entry.file.split('/'), entry.hidden).description(entry.description);
  return { program, nodes };
}

/** Arguments, options, examples and the action of the one command that runs (or whose help is shown). */
function attachDefinition(leaf: Command, definition: AnyCommand, onInvoke: (invocation: Invocation) => void): void {
  const argNames = Object.keys(definition.args ?? {});
  for (const [name, spec] of Object.entries(definition.args ?? {}) as [string, NonNullable<AnyCommand['args']>[string]][]) {
    const label = spec.variadic ? `${kebab(name)}...` : kebab(name);
    const argument = leaf.createArgument(spec.required ? `<${label}>` : `[${label}]`, spec.description);
    if (spec.choices) argument.choices(spec.choices);
    leaf.addArgument(argument);
  }
  const attributes = new Map<string, string>();
  for (const [name, spec] of Object.entries((definition.options ?? {}) as Record<string, OptionSpec>)) {
    attributes.set(name, addOption(leaf, spec));
  }
  if (definition.examples?.length) {
    leaf.addHelpText('after', `\nExamples:\n${definition.examples.map((line) => `  $ ${line}`).join('\n')}`);
  }
  leaf.action((...params: unknown[]) => {
    const command = params.at(-1) as Command;
    const args: RawInvocation['args'] = {};
    argNames.forEach((name, index) => (args[name] = params[index] as string | string[] | undefined));
    const flags: Record<string, unknown> = {};
    const values = command.opts();
    for (const [name, attribute] of attributes) {
      if (sourceOf(command, attribute) === 'cli') flags[name] = values[attribute];
    }
    onInvoke({ definition, command, raw: { args, flags, command: pathOf(command) } });
  });
}


/** `access request` for the leaf command of `byoc access request`. */
function pathOf(command: Command): string {
  const names: string[] = [];
  for (let node: Command | null = command; node?.parent; node = node.parent) names.unshift(node.name());
  return names.join(' ');
}

/** Adds the flag(s) for one option and returns the attribute name commander stores its value under. */
function addOption(command: Command, spec: OptionSpec): string {
  const setting = settingOrThrow(spec.setting);
  const shownDefault = setting.default !== undefined && setting.default !== false && !(Array.isArray(setting.default) && setting.default.length === 0);
  const described = `${spec.description} (env: ${setting.env}${shownDefault ? `; default: ${String(setting.default)}` : ''})`;
  const negatable = spec.flags.includes('--[no-]');
  const positive = new Option(spec.flags.replace('--[no-]', '--'), described);
  if (spec.choices) positive.choices(spec.choices);
  command.addOption(positive);
  if (negatable) command.addOption(new Option(`--no-${flagName(spec.flags).slice(2)}`, `the opposite of ${flagName(spec.flags)}`));
  return positive.attributeName();
}

function configureOutput(command: Command, base: ContextBase): void {
  command.exitOverride().configureOutput({
    writeOut: (text) => base.io.stdout.write(text),
    writeErr: (text) => base.io.stderr.write(text),
    outputError: () => undefined,
  });
}

/**
 * `byoc help access request` means `byoc access request --help`, and a group named without a
 * subcommand prints its help (exit 0) instead of an error.
 */
function normaliseArgv(argv: readonly string[], program: Command): string[] {
  const words = [...argv];
  if (words[0] === 'help') {
    const helpGroup = program.commands.find((command) => command.name() === 'help');
    const topic = words[1];
    const isTopic = topic !== undefined && helpGroup?.commands.some((command) => command.name() === topic);
    if (!isTopic) return [...words.slice(1).filter((word) => !word.startsWith('-')), '--help'];
  }
  if (words.some((word) => ['--help', '-h', '--version', '-V'].includes(word))) return words;
  const path = commandPathOf(words, program);
  const node = path.reduce((current, word) => current.commands.find((command) => command.name() === word)!, program);
  const positional = words.filter((word, index) => !(word.startsWith('-') && word !== '-') && words[index - 1] !== '--config');
  return node.commands.length > 0 && positional.length === path.length ? [...words, '--help'] : words;
}

function usageFromCommander(error: CommanderError, commandPath: string): UsageError {
  const message = error.message.replace(/^error: /, '').replace(/\n/g, ' ').trim();
  const code = error.code.replace(/^commander\./, '').replace(/([A-Z])/g, '_$1').toLowerCase();
  return new UsageError(code, message, { hint: `Run 'byoc ${commandPath ? `${commandPath} ` : ''}--help' for usage.` });
}

/** The longest prefix of the words that names a command or group (options and their values skipped). */
function commandPathOf(words: readonly string[], program: Command): string[] {
  const path: string[] = [];
  let node = program;
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word.startsWith('-') && word !== '-') {
      if (word === '--config') index++;
      continue;
    }
    const next = node.commands.find((command) => command.name() === word);
    if (!next) break;
    path.push(word);
    node = next;
  }
  return path;
}

async function decideOutput(base: ContextBase, flags: Map<string, FlagValue>): Promise<OutputMode> {
  const fromFlagOrEnv = (key: string, fallback: boolean): boolean => {
    const flag = flags.get(key);
    return flag ? Boolean(flag.value) : envBoolean(base.env, key, fallback);
  };
  const stdoutIsTTY = Boolean(base.io.stdout.isTTY);
  return {
    json: fromFlagOrEnv('output.json', false),
    verbose: fromFlagOrEnv('output.verbose', false),
    color: decideColor(base.env, stdoutIsTTY, fromFlagOrEnv('output.color', true)),
    stdoutIsTTY,
    stderrIsTTY: Boolean(base.io.stderr.isTTY),
    stdinIsTTY: Boolean(base.io.stdin.isTTY),
  };
}

function configFileOf(globals: Record<string, unknown>, base: ContextBase): string | undefined {
  return (globals.config as string | undefined) ?? (base.env.BYOC_CONFIG || undefined);
}

function reportError(error: unknown, base: ContextBase, json: boolean, verbose: boolean): void {
  const document = toErrorDocument(error);
  if (json) {
    base.io.stderr.write(`${JSON.stringify(document)}\n`);
    return;
  }
  const { message, hint } = document.error;
  const color = decideColor(base.env, Boolean(base.io.stderr.isTTY), !base.env.NO_COLOR);
  const red = (text: string) => (color ? `\u001b[31m${text}\u001b[39m` : text);
  const dim = (text: string) => (color ? `\u001b[2m${text}\u001b[22m` : text);
  base.io.stderr.write(`${red('error:')} ${message}\n`);
  if (hint) base.io.stderr.write(`${dim('hint:')} ${hint}\n`);
  if (verbose && error instanceof Error && !(error instanceof ByocError && error.kind !== 'bug')) {
    base.io.stderr.write(`${error.stack ?? ''}\n`);
  }
}

function sourceOf(command: Command, name: string): string | undefined {
  return command.getOptionValueSource(name) ?? undefined;
}

/** A boolean setting's BYOC_* variable, before any configuration is read (a malformed value counts as unset). */
function envBoolean(env: ContextBase['env'], key: string, fallback: boolean): boolean {
  const setting = settingOrThrow(key);
  const raw = env[setting.env];
  if (raw === undefined || raw === '') return fallback;
  const coerced = coerce(setting, raw);
  return 'value' in coerced ? Boolean(coerced.value) : fallback;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
