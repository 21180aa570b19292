import type { Candidate, CandidateSources, CompletionFlag, CompletionNode, CompletionTree, ValueSource } from './model.js';

export interface Completion {
  candidates: Candidate[];
  /** the shell should complete a file name (its own completion knows the file system, quoting and `~`) */
  files: boolean;
}

const NOTHING: Completion = { candidates: [], files: false };

/**
 * What may come at the cursor. `words` are the command line after `byoc`, up to the cursor; the last one is the
 * word being completed ('' for a new word). Sources that fail give nothing: completion must never fail loudly.
 */
export async function complete(tree: CompletionTree, words: readonly string[], sources: CandidateSources): Promise<Completion> {
  const root = tree.nodes.get('')!;
  const before = words.slice(0, -1);
  const current = words.at(-1) ?? '';
  let node = root;
  let positional = 0;
  let pending: CompletionFlag | undefined;
  let operandsOnly = false;
  const used = new Set<CompletionFlag>();
  for (const word of before) {
    if (pending) {
      // bash splits `--format=json` at '=': the value is the word after it.
      if (word !== '=') pending = undefined;
      continue;
    }
    if (!operandsOnly && word === '--') {
      operandsOnly = true;
      continue;
    }
    if (!operandsOnly && word.startsWith('-') && word !== '-') {
      const [name, inline] = splitFlag(word);
      const flag = findFlag(tree, node, name);
      if (!flag) continue;
      used.add(flag);
      if (flag.takesValue && inline === undefined) pending = flag;
      continue;
    }
    const child = positional === 0 ? childOf(tree, node, word) : undefined;
    if (child) {
      node = child;
      continue;
    }
    positional++;
  }

  if (pending) return current === '=' ? NOTHING : valuesFor(pending.values, current, sources);
  if (!operandsOnly && current.startsWith('--') && current.includes('=')) {
    const [name, prefix = ''] = splitFlag(current);
    const flag = findFlag(tree, node, name);
    if (!flag?.takesValue || flag.values.kind === 'files') return NOTHING;
    const { candidates } = await valuesFor(flag.values, prefix, sources);
    return { candidates: candidates.map((candidate) => ({ ...candidate, value: `${name}=${candidate.value}` })), files: false };
  }
  if (!operandsOnly && current.startsWith('-')) {
    const flags = [...node.flags, ...tree.globals].filter((flag) => !used.has(flag));
    return { candidates: matching(flags.flatMap((flag) => flag.names.filter((name) => name.startsWith('--')).map((value) => ({ value, description: flag.description }))), current), files: false };
  }

  const candidates: Candidate[] = [];
  if (positional === 0) {
    const names = node.path === 'help' ? [...node.subcommands, ...root.subcommands.filter((name) => name !== 'help')] : node.subcommands;
    for (const name of names) {
      const child = childOf(tree, node, name);
      if (child && !child.hidden) candidates.push({ value: name, description: child.description });
    }
  }
  const arg = node.runnable ? (node.args[positional] ?? (node.args.at(-1)?.variadic ? node.args.at(-1) : undefined)) : undefined;
  if (arg) {
    const values = await valuesFor(arg.values, current, sources);
    if (values.files) return candidates.length ? { candidates: matching(candidates, current), files: true } : values;
    candidates.push(...values.candidates);
  }
  return { candidates: matching(candidates, current), files: false };
}

function splitFlag(word: string): [string, string | undefined] {
  const equals = word.indexOf('=');
  return equals === -1 ? [word, undefined] : [word.slice(0, equals), word.slice(equals + 1)];
}

function findFlag(tree: CompletionTree, node: CompletionNode, name: string): CompletionFlag | undefined {
  return [...node.flags, ...tree.globals].find((flag) => flag.names.includes(name));
}

/** The node a word leads to; under `help`, every top-level command too (`byoc help access request`). */
function childOf(tree: CompletionTree, node: CompletionNode, word: string): CompletionNode | undefined {
  if (node.subcommands.includes(word)) return tree.nodes.get(node.path ? `${node.path} ${word}` : word);
  if (node.path === 'help') return tree.nodes.get(word);
  return undefined;
}

async function valuesFor(source: ValueSource, prefix: string, sources: CandidateSources): Promise<Completion> {
  if (source.kind === 'files') return { candidates: [], files: true };
  let candidates: Candidate[] = [];
  try {
    if (source.kind === 'choices') candidates = source.choices.map((value) => ({ value }));
    else if (source.kind === 'services') candidates = await sources.services();
    else if (source.kind === 'presets') candidates = await sources.presets();
    else if (source.kind === 'requests') candidates = await sources.requests(source.filters);
  } catch {
    // A broken configuration, no broker, no identity, a timeout: no candidates, and the shell stays quiet.
    return NOTHING;
  }
  return { candidates: matching(candidates, prefix), files: false };
}

/** Candidates that start with what was typed, each once, on one line. */
function matching(candidates: readonly Candidate[], prefix: string): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const candidate of candidates) {
    if (!candidate.value.startsWith(prefix) || seen.has(candidate.value) || /[\t\n]/.test(candidate.value)) continue;
    seen.add(candidate.value);
    const description = candidate.description?.replace(/\s+/g, ' ').trim();
    out.push(description ? { value: candidate.value, description } : { value: candidate.value });
  }
  return out;
}

/** The wire format the scripts read: one candidate a line, `value<TAB>description`, and `:files` for file names. */
export function formatCompletion(completion: Completion): string {
  const lines = completion.candidates.map((candidate) => (candidate.description ? `${candidate.value}\t${candidate.description}` : candidate.value));
  if (completion.files) lines.push(':files');
  return lines.length ? `${lines.join('\n')}\n` : '';
}
