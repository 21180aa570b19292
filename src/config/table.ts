import { commandFlags, type OptionSpec } from '../command/definition.js';
import { catalogFor, GLOBAL_OPTIONS, type CommandSource } from '../options.js';
import { expected } from './kinds.js';
import { describeDefault } from './settings.js';

/** Where the README's generated table sits; `npm run readme` rewrites what is between. */
const TABLE_BEGIN = '<!-- settings table: generated from the option declarations by `npm run readme`; test/unit/readme.test.ts checks it -->';
const TABLE_END = '<!-- end of settings table -->';

/**
 * The README's settings table, from the declarations: every setting with its variable, the flag and the commands
 * that take it, its default and what it accepts. Rows come grouped by section (`connect.*`), sections in the
 * order their first setting is declared (global options, shared settings, then the commands in manifest order).
 */
export async function settingsTable(commands: readonly CommandSource[]): Promise<string> {
  const settings = (await catalogFor(commands).all()) as readonly OptionSpec[];
  const usedBy = new Map<OptionSpec, string[]>();
  for (const entry of commands) {
    for (const flag of commandFlags(await entry.load())) usedBy.set(flag.spec, [...(usedBy.get(flag.spec) ?? []), entry.file.replaceAll('/', ' ')]);
  }
  const globals = new Set<OptionSpec>(Object.values(GLOBAL_OPTIONS));
  const section = (spec: OptionSpec) => spec.key.split('.')[0]!;
  const sections = [...new Set(settings.map(section))];
  const rows = sections.flatMap((name) => settings.filter((spec) => section(spec) === name));
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const code = (text: string | undefined) => (text ? `\`${text}\`` : '');
  const lines = rows.map((spec) => {
    const flag = spec.flags ? commandFlags({ options: { spec } })[0]! : undefined;
    const flags = flag ? [flag.flag, ...(flag.negation ? [flag.negation] : [])].map(code).join(' / ') : '';
    const where = globals.has(spec) ? 'every command' : (usedBy.get(spec) ?? []).join(', ');
    // What a value must be, where the kind alone does not say it (durations and booleans are explained once, above the table).
    const closed = spec.choices || spec.min !== undefined || spec.max !== undefined || spec.schemes || spec.expects;
    const accepts = closed ? `; ${expected(spec)}` : '';
    const shown = spec.defaultNote ?? (describeDefault(spec) === undefined ? '' : code(describeDefault(spec)));
    return `| ${spec.inFile === false ? '—' : code(spec.key)} | ${code(spec.env)} | ${cell(flags)}${where && flags ? ` (${where})` : ''} | ${cell(shown)} | ${cell(`${spec.description}${accepts}`)} |`;
  });
  return ['| key | environment | flag | default | what it sets |', '|---|---|---|---|---|', ...lines].join('\n');
}

/** The README with its table replaced (or unchanged when it is current). */
export function withTable(readme: string, table: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no settings table markers: add\n${TABLE_BEGIN}\n${TABLE_END}`);
  return `${readme.slice(0, begin + TABLE_BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}
