import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import type * as Commander from 'commander';
import { COMMANDS, settingsCatalog, type CommandTree } from '../commands/index.js';
import { checkFlag, commandFlags, flagName, runCommand, type AnyCommand, type OptionSpec, type RawInvocation } from './command.js';
import type { Configuration, FlagValue } from './config/configuration.js';
import { checkValue, expected } from './config/kinds.js';
import { describeDefault } from './config/settings.js';
import { configurationModules, createContext, decideColor, loadConfiguration, type ContextBase, type OutputMode, type OutputStream } from './context.js';
import { abortReason, ByocError, ConfigError, exitCodeFor, toErrorDocument, UsageError } from './errors.js';
import { catalogFor, GLOBAL_OPTIONS } from './options.js';
import { HELP_WIDTH } from './precomputed-help.js';
import { ConsumerGone } from './util/stream.js';
import { closest } from './util/suggest.js';

type Command = Commander.Command;
type CommanderError = Commander.CommanderError;
let commanderModule: typeof Commander | undefined;
/**
 * Loads commander when a command line needs it (help, an error, anything quickParse leaves to it): its load and
 * tree are ~10 ms of a 1-row query. It is CommonJS: require() loads it directly, where `import` adds the ES module
 * wrapper and a scan of its exports (~2.5 ms, measured on Node 20); node:module, which gives require(), comes with
 * it (importing it also loads its source-map support).
 */
async function loadCommander(): Promise<typeof Commander> {
  if (!commanderModule) {
    const { createRequire } = await import('node:module');
    commanderModule = createRequire(import.meta.url)('commander') as typeof Commander;
  }
  return commanderModule;
}

/** commander, once parseCommandLine has loaded it. */
function commander(): typeof Commander {
  if (!commanderModule) throw new Error('commander is used before loadCommander()');
  return commanderModule;
}

const ROOT_EXAMPLES = [
  'byoc access request acme-prod --reason "merges stuck" --ticket INC-42',
  'byoc cert get acme-prod',
  'byoc connect check acme-prod --require-direct',
  "byoc query acme-prod 'SELECT * FROM system.merges'",
  'byoc config show --json',
];

const HELP_OR_VERSION = ['--help', '-h', '--version', '-V'];

interface Invocation {
  definition: AnyCommand;
  raw: RawInvocation;
}

/** How an error is printed: decided from flags and variables first, then from the whole configuration. */
interface Reporting {
  json: boolean;
  verbose: boolean;
  color: boolean;
}

/**
 * Parses argv, runs one command and returns the exit code. The only place where errors become exit codes.
 * `tree` is the command manifest (a test passes its own).
 */
export async function main(argv: readonly string[], base: ContextBase, tree: CommandTree = COMMANDS): Promise<number> {
  let reporting = earlyReporting(base, new Map());
  prefetch(argv, tree);
  try {
    const parsed = await parseCommandLine(argv, base, tree, { onGlobals: (flags) => (reporting = earlyReporting(base, flags)) });
    const { flags, path, invocation } = parsed;
    if (!invocation) return 0;
    // Every command reads the configuration: the output settings may come from the file, and a --config or
    // BYOC_CONFIG naming a missing or invalid file is refused whatever the command.
    const { definition } = invocation;
    const own = definition.configFile?.(invocation.raw.args as never);
    let loaded: { configuration: Configuration; output: OutputMode; color: boolean } | undefined;
    let configurationError: ConfigError | undefined;
    try {
      const configuration = await loadConfiguration(base, {
        flags,
        // the manifest's own catalog checks a file against the table the build wrote; a test's tree has none
        settings: tree === COMMANDS ? settingsCatalog : catalogFor(tree.manifest),
        ...(own ? { configFile: resolvePath(base.cwd, own), configOrigin: `byoc ${path.join(' ')}` } : {}),
      });
      loaded = { configuration, ...resolveOutput(configuration, base) };
    } catch (error) {
      if (!(error instanceof ConfigError && definition.reportsConfigErrors)) throw error;
      configurationError = error;
    }
    const early = earlySettings(base, flags);
    const { output, color } = loaded ?? { output: outputMode(base, early.json, early.verbose, early.color), color: early.color };
    reporting = { json: output.json, verbose: output.verbose, color: decideColor(base.env, Boolean(base.io.stderr.isTTY), color) };
    const ctx = createContext(base, { flags, output, configuration: loaded?.configuration, configurationError });
    const outcome = await runCommand(definition, invocation.raw, ctx);
    if (outcome) {
      reportError(outcome, base, reporting);
      return outcome.exitCode;
    }
    // Finished after Ctrl-C or SIGTERM: cut short (130), unless stopping on a signal is how the command ends.
    if (base.signal.aborted && !definition.stopsOnSignal && !(base.signal.reason instanceof ConsumerGone)) return exitCodeFor(abortReason(base.signal));
    return 0;
  } catch (error) {
    // Nobody reads stdout any more (`| head`): what the command was doing no longer matters, and is not an error.
    if (base.signal.reason instanceof ConsumerGone) return 0;
    reportError(error, base, reporting);
    return exitCodeFor(error);
  }
}

/** A command line, parsed: the global flags, the command path, and the command to run (none: help was printed). */
interface ParsedCommandLine {
  flags: Map<string, FlagValue>;
  path: string[];
  invocation?: Invocation | undefined;
}

/**
 * Parses a command line: by quickParse when it can, else by commander (help, errors, every other shape).
 * `onGlobals` hears the global flags as soon as they are known (they decide how a later error is printed);
 * `quick: false` is commander alone (a test compares the two).
 */
export async function parseCommandLine(
  argv: readonly string[],
  base: ContextBase,
  tree: CommandTree,
  options: { quick?: boolean; onGlobals?: (flags: Map<string, FlagValue>) => void } = {},
): Promise<ParsedCommandLine> {
  if (options.quick !== false) {
    const quick = await quickParse(argv, tree);
    if (quick) {
      options.onGlobals?.(quick.flags);
      return quick;
    }
  }
  const { CommanderError } = await loadCommander();
  const scanned = scanGlobals(argv);
  options.onGlobals?.(scanned.flags);
  const { program, nodes } = buildProgram(base, tree);
  const words = normaliseArgv(argv, scanned, program);
  const path = commandPathOf(scanGlobals(words).operands, program);
  let invocation: Invocation | undefined;
  const target = tree.manifest.find((entry) => entry.file === path.join('/'));
  if (target) attachDefinition(nodes.get(path.join(' '))!, await target.load(), path.join(' '), (found) => (invocation = found));
  try {
    await program.parseAsync(words, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return { flags: scanned.flags, path };
      throw usageFromCommander(error, path.join(' '));
    }
    throw error;
  }
  return { flags: scanned.flags, path, invocation };
}

/**
 * The usual run of one command (`byoc query svc 'SELECT 1' --format tsv`) parsed by node's util.parseArgs from the
 * same declarations, without loading commander or building its tree. Only the plain shapes: the command's words,
 * its arguments, long options (global ones anywhere, the command's after its words), each at most a value. For
 * anything else (help, version, `--`, short or unknown options, a value that looks like an option, a boolean
 * given a value, too few or too many arguments, an argument outside its choices, a group named alone) it answers
 * undefined and commander parses the line, so its messages stay the only ones. test/unit/main-quick-parse.test.ts
 * runs every command's examples and the odd shapes through both and expects the same invocation.
 */
export async function quickParse(argv: readonly string[], tree: CommandTree): Promise<ParsedCommandLine | undefined> {
  if (argv.some((word) => word === '--' || HELP_OR_VERSION.includes(word))) return undefined;
  const globals = Object.values(GLOBAL_OPTIONS) as OptionSpec[];
  // by the long flag as written: `--no-color` is its own flag (commander declares no `--color`)
  const globalFlags = new Map(globals.map((spec) => [flagName(spec.flags!).slice(2), spec]));
  // The command's words: the operands before the first option that is not global, as commander dispatches them.
  const operands: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index]!;
    if (!word.startsWith('-') || word === '-') {
      operands.push(word);
      continue;
    }
    const [name, inline] = word.slice(2).split('=');
    const spec = globalFlags.get(name!);
    if (!word.startsWith('--') || !spec) break;
    if (spec.flags!.includes('<') && inline === undefined) index++;
  }
  if (operands[0] === 'help') return undefined;
  // Every path commander makes a node for: each command's file and the groups above it.
  const nodes = new Set(tree.manifest.flatMap((entry) => entry.file.split('/').map((_, end, parts) => parts.slice(0, end + 1).join('/'))));
  let path: string[] = [];
  for (let end = 1; end <= operands.length && nodes.has(operands.slice(0, end).join('/')); end++) path = operands.slice(0, end);
  const target = tree.manifest.find((entry) => entry.file === path.join('/'));
  if (!target) return undefined;
  const isGroup = tree.manifest.some((entry) => entry.file.startsWith(`${target.file}/`));
  const definition = await target.load();
  const own = commandFlags(definition);
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  const meaning = new Map<string, { global?: OptionSpec; name?: string; value?: boolean; list?: boolean }>();
  for (const [name, spec] of globalFlags) {
    options[name] = { type: spec.flags!.includes('<') ? 'string' : 'boolean' };
    meaning.set(name, { global: spec });
  }
  for (const flag of own) {
    const words: [string, boolean][] = [[flag.flag, true]];
    if (flag.negation) words.push([flag.negation, false]);
    for (const [word, value] of words) {
      const name = word.slice(2);
      // a flag both global and the command's (commander's program takes it), an optional value: commander's
      if (meaning.has(name) || (flag.value && !flag.value.startsWith('<'))) return undefined;
      options[name] = { type: flag.value ? 'string' : 'boolean' };
      meaning.set(name, { name: flag.name, ...(flag.value ? {} : { value }), ...(flag.spec.kind === 'list' ? { list: true } : {}) });
    }
  }
  let tokens;
  try {
    ({ tokens } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true, tokens: true }));
  } catch {
    return undefined;
  }
  const positionals = tokens.filter((token) => token.kind === 'positional');
  if (path.some((word, index) => positionals[index]?.value !== word)) return undefined;
  const pathEnd = path.length ? positionals[path.length - 1]!.index : -1;
  const values = positionals.slice(path.length).map((token) => token.value);
  const flags = new Map<string, FlagValue>();
  const given: Record<string, unknown> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const { global, name, value, list } = meaning.get(token.name)!;
    if (global) {
      const attributeValue = token.value ?? !token.name.startsWith('no-');
      flags.set(global.key, { value: checkFlag(global, attributeValue), flag: flagName(global.flags!) });
      continue;
    }
    // the command's options belong after its words (before them, commander's program refuses them)
    if (token.index < pathEnd) return undefined;
    // a list flag given twice keeps both, as commander's parser does (attachDefinition)
    const previous = given[name!];
    given[name!] = list && typeof previous === 'string' && token.value !== undefined ? `${previous},${token.value}` : (token.value ?? value);
  }
  // a group named with no argument prints its help (normaliseArgv)
  if (isGroup && values.length === 0) return undefined;
  const specs = Object.entries<NonNullable<AnyCommand['args']>[string]>(definition.args ?? {});
  if (values.length > specs.length || specs.some(([, spec]) => spec.variadic)) return undefined;
  const args: RawInvocation['args'] = {};
  for (const [index, [name, spec]] of specs.entries()) {
    const value = values[index];
    if (value === undefined ? spec.required : spec.choices && !spec.choices.includes(value)) return undefined;
    args[name] = value;
  }
  return { flags, path, invocation: { definition, raw: { args, flags: given, command: path.join(' ') } } };
}

/**
 * Starts loading what the run will need while commander parses (file reads overlap the parsing): the
 * configuration's modules, and the module of the command the leading words name. A wrong guess (options first, a
 * typo) only loads a module; failures surface where the modules are awaited.
 */
function prefetch(argv: readonly string[], tree: CommandTree): void {
  void configurationModules().catch(() => undefined);
  const firstOption = argv.findIndex((word) => word.startsWith('-'));
  const words = firstOption < 0 ? argv : argv.slice(0, firstOption);
  for (let end = words.length; end > 0; end--) {
    const entry = tree.manifest.find((candidate) => candidate.file === words.slice(0, end).join('/'));
    if (entry) {
      void entry.load().catch(() => undefined);
      return;
    }
  }
}

/**
 * The global options on the command line, parsed by commander from their declarations (src/options.ts), before
 * the command tree: they decide how an early error is printed and which file is read. `operands` are the words
 * before the first option that is not global: the command path is among them.
 */
function scanGlobals(argv: readonly string[]): { flags: Map<string, FlagValue>; operands: string[]; unknown: string[] } {
  const { Command, CommanderError, Option } = commander();
  const scanner = new Command()
    .exitOverride()
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
  const byAttribute = new Map<string, OptionSpec>();
  for (const spec of Object.values(GLOBAL_OPTIONS) as OptionSpec[]) {
    const option = new Option(spec.flags!);
    scanner.addOption(option);
    byAttribute.set(option.attributeName(), spec);
  }
  let parsed: { operands: string[]; unknown: string[] };
  try {
    parsed = scanner.parseOptions([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) throw usageFromCommander(error, '');
    throw error;
  }
  const values = scanner.opts();
  const flags = new Map<string, FlagValue>();
  for (const [attribute, spec] of byAttribute) {
    if (scanner.getOptionValueSource(attribute) !== 'cli') continue;
    flags.set(spec.key, { value: checkFlag(spec, values[attribute]), flag: flagName(spec.flags!) });
  }
  return { flags, ...parsed };
}

/**
 * Before the configuration is read: flags, then variables (a malformed one counts as unset here; the run refuses
 * it). `color` here is the setting; decideColor adds the terminal and NO_COLOR.
 */
function earlySettings(base: ContextBase, flags: ReadonlyMap<string, FlagValue>): Reporting {
  const value = (spec: OptionSpec): boolean => {
    const flag = flags.get(spec.key);
    if (flag) return Boolean(flag.value);
    const raw = base.env[spec.env];
    const checked = raw ? checkValue(spec, raw) : undefined;
    return checked && 'value' in checked ? Boolean(checked.value) : Boolean(spec.default);
  };
  return { json: value(GLOBAL_OPTIONS.json), verbose: value(GLOBAL_OPTIONS.verbose), color: value(GLOBAL_OPTIONS.color) };
}

function earlyReporting(base: ContextBase, flags: ReadonlyMap<string, FlagValue>): Reporting {
  const settings = earlySettings(base, flags);
  return { ...settings, color: decideColor(base.env, Boolean(base.io.stderr.isTTY), settings.color) };
}

/** The output settings through the same resolver as every setting: flag > BYOC_* > file > default. */
function resolveOutput(configuration: Configuration, base: ContextBase): { output: OutputMode; color: boolean } {
  const color = configuration.value(GLOBAL_OPTIONS.color);
  return { color, output: outputMode(base, configuration.value(GLOBAL_OPTIONS.json), configuration.value(GLOBAL_OPTIONS.verbose), color) };
}

function outputMode(base: ContextBase, json: boolean, verbose: boolean, color: boolean): OutputMode {
  const stdoutIsTTY = Boolean(base.io.stdout.isTTY);
  return {
    json,
    verbose,
    color: decideColor(base.env, stdoutIsTTY, color),
    stdoutIsTTY,
    stderrIsTTY: Boolean(base.io.stderr.isTTY),
    stdinIsTTY: Boolean(base.io.stdin.isTTY),
  };
}

/**
 * The command tree with every command's name and description, from the manifest alone: listing commands
 * (help, suggestions for typos) loads no command module.
 */
function buildProgram(base: ContextBase, tree: CommandTree): { program: Command; nodes: Map<string, Command> } {
  const { Command, Option } = commander();
  const program = new Command('byoc')
    .description(
      'Troubleshooting access to BYOC ClickHouse deployments over Tailscale: time-bound access requests, ' +
        'short-lived certificates, path checks, read-only system-table queries, Kubernetes access and audit.',
    )
    .version(base.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand(false)
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `\nExamples:\n${ROOT_EXAMPLES.map((line) => `  $ ${line}`).join('\n')}\n\nExit codes: byoc help exit-codes.  Docs: README.md.`);
  for (const spec of Object.values(GLOBAL_OPTIONS) as OptionSpec[]) program.addOption(new Option(spec.flags!, optionHelp(spec)));
  configureOutput(program, base);

  // One commander command per path: a path can be both a command and a group (`query` and `query presets`).
  const nodes = new Map<string, Command>([['', program]]);
  const nodeFor = (segments: string[], hidden = false): Command => {
    const key = segments.join(' ');
    const existing = nodes.get(key);
    if (existing) return existing;
    const parent = nodeFor(segments.slice(0, -1));
    const node = parent.command(segments.at(-1)!, { hidden }).description(tree.groups[key] ?? '').helpCommand(false);
    configureOutput(node, base);
    nodes.set(key, node);
    return node;
  };

  for (const entry of tree.manifest) nodeFor(entry.file.split('/'), entry.hidden).description(entry.description);
  return { program, nodes };
}

/** An option's line in help: its description, what it accepts when that is a closed set, its variable and default. */
function optionHelp(spec: OptionSpec): string {
  const accepts = spec.kind === 'choice' || (spec.kind === 'list' && spec.choices) || (spec.kind === 'integer' && (spec.min !== undefined || spec.max !== undefined)) ? `; ${expected(spec)}` : '';
  const shown = spec.flags?.startsWith('--no-') ? undefined : spec.kind === 'boolean' ? spec.defaultNote : describeDefault(spec);
  return `${spec.description}${accepts} (env: ${spec.env}${shown ? `; default: ${shown}` : ''})`;
}

/** Arguments, options, examples and the action of the one command that runs (or whose help is shown). */
function attachDefinition(leaf: Command, definition: AnyCommand, commandPath: string, onInvoke: (invocation: Invocation) => void): void {
  const { Option } = commander();
  const argNames = Object.keys(definition.args ?? {});
  for (const [name, spec] of Object.entries<NonNullable<AnyCommand['args']>[string]>(definition.args ?? {})) {
    const label = spec.variadic ? `${kebab(name)}...` : kebab(name);
    const argument = leaf.createArgument(spec.required ? `<${label}>` : `[${label}]`, spec.description);
    if (spec.choices) argument.choices(spec.choices);
    leaf.addArgument(argument);
  }
  const attributes = new Map<string, string>();
  for (const flag of commandFlags(definition)) {
    const positive = new Option(flag.value ? `${flag.flag} ${flag.value}` : flag.flag, optionHelp(flag.spec));
    // A list flag given twice keeps both (`--group a --group b` is `--group a,b`), never only the last.
    if (flag.spec.kind === 'list') positive.argParser((value: string, previous: unknown) => (typeof previous === 'string' ? `${previous},${value}` : value));
    leaf.addOption(positive);
    if (flag.negation) leaf.addOption(new Option(flag.negation, `the opposite of ${flag.flag}`));
    attributes.set(flag.name, positive.attributeName());
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
      if (command.getOptionValueSource(attribute) === 'cli') flags[name] = values[attribute];
    }
    onInvoke({ definition, raw: { args, flags, command: commandPath } });
  });
}

/** commander's own rule: the terminal's width on a TTY, else 80. */
function helpWidth(stream: OutputStream): number {
  return (stream.isTTY ? stream.columns : undefined) ?? HELP_WIDTH;
}

function configureOutput(command: Command, base: ContextBase): void {
  command.exitOverride().configureOutput({
    writeOut: (text) => base.io.stdout.write(text),
    writeErr: (text) => base.io.stderr.write(text),
    outputError: () => undefined,
    // commander would look at process.stdout: the context's streams are the process's in a run, and a test's own
    // in a test (the precomputed help is rendered through this at 80 columns, src/precomputed-help.ts).
    getOutHelpWidth: () => helpWidth(base.io.stdout),
    getErrHelpWidth: () => helpWidth(base.io.stderr),
  });
}

/**
 * `byoc help access request` means `byoc access request --help`; `byoc help exit-codes` runs the topic; a help
 * topic that names nothing is a usage error listing what there is. A group named with nothing but global options
 * prints its help (exit 0); with any other option, commander refuses it (exit 2) like a leaf command does.
 */
function normaliseArgv(argv: readonly string[], scanned: { operands: string[]; unknown: string[] }, program: Command): string[] {
  const words = [...argv];
  const { operands, unknown } = scanned;
  if (words.some((word) => HELP_OR_VERSION.includes(word))) return words;
  if (operands[0] === 'help') {
    const topic = operands.slice(1);
    if (topic.length > 0 && nodeAt(program, ['help']).commands.some((command) => command.name() === topic[0])) return words;
    const option = unknown.find((word) => word.startsWith('-'));
    if (option) {
      throw new UsageError('unknown_option', `unknown option '${option}'`, { hint: "Run 'byoc help --help' for usage." });
    }
    const path = commandPathOf(topic, program);
    if (path.length < topic.length) throw unknownTopic(topic, path, program);
    const at = words.indexOf('help');
    return [...words.slice(0, at), ...words.slice(at + 1), '--help'];
  }
  const path = commandPathOf(operands, program);
  const node = nodeAt(program, path);
  return node.commands.length > 0 && operands.length === path.length && unknown.length === 0 ? [...words, '--help'] : words;
}

function unknownTopic(topic: readonly string[], found: readonly string[], program: Command): UsageError {
  const node = nodeAt(program, found);
  const word = topic[found.length]!;
  const visible = (command: Command) => node.commands.filter((child) => !(child as unknown as { _hidden?: boolean })._hidden && child !== command).map((child) => child.name());
  if (found.length === 0) {
    const helpGroup = nodeAt(program, ['help']);
    const topics = helpGroup.commands.map((command) => command.name());
    const commands = visible(helpGroup);
    const guess = closest(word, [...topics, ...commands]);
    return new UsageError('unknown_help_topic', `no help topic or command named "${word}"`, {
      hint: `${guess ? `Did you mean "byoc help ${guess}"? ` : ''}Topics: ${topics.join(', ')}. Commands: ${commands.join(', ')}.`,
    });
  }
  const names = visible(program);
  const guess = closest(word, names);
  return new UsageError('unknown_help_topic', `byoc ${found.join(' ')} has no command named "${word}"`, {
    hint: `${guess ? `Did you mean "byoc help ${[...found, guess].join(' ')}"? ` : ''}Its commands: ${names.join(', ')}.`,
  });
}

function usageFromCommander(error: CommanderError, commandPath: string): UsageError {
  const message = error.message.replace(/^error: /, '').replace(/\n/g, ' ').trim();
  const code = error.code.replace(/^commander\./, '').replace(/([A-Z])/g, '_$1').toLowerCase();
  return new UsageError(code, message, { hint: `Run 'byoc ${commandPath ? `${commandPath} ` : ''}--help' for usage.` });
}

/** The longest prefix of the words that names a command or group. */
function commandPathOf(words: readonly string[], program: Command): string[] {
  const path: string[] = [];
  let node = program;
  for (const word of words) {
    const next = node.commands.find((command) => command.name() === word);
    if (!next) break;
    path.push(word);
    node = next;
  }
  return path;
}

function nodeAt(program: Command, path: readonly string[]): Command {
  return path.reduce((current, word) => current.commands.find((command) => command.name() === word)!, program);
}

function reportError(error: unknown, base: ContextBase, reporting: Reporting): void {
  const document = toErrorDocument(error);
  if (reporting.json) {
    base.io.stderr.write(`${JSON.stringify(document)}\n`);
    return;
  }
  const { message, hint } = document.error;
  const red = (text: string) => (reporting.color ? `\u001b[31m${text}\u001b[39m` : text);
  const dim = (text: string) => (reporting.color ? `\u001b[2m${text}\u001b[22m` : text);
  base.io.stderr.write(`${red('error:')} ${message}\n`);
  if (hint) base.io.stderr.write(`${dim('hint:')} ${hint}\n`);
  if (reporting.verbose && error instanceof Error && !(error instanceof ByocError && error.kind !== 'bug')) {
    base.io.stderr.write(`${error.stack ?? ''}\n`);
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
