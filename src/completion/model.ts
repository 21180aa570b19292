import type { ListFilter } from '../access/types.js';

/** Where the values of a flag or an argument come from when the shell asks. */
export type ValueSource =
  | { kind: 'none' }
  | { kind: 'choices'; choices: readonly string[] }
  | { kind: 'files' }
  | { kind: 'services' }
  | { kind: 'presets' }
  /** request ids from the broker: the union of these lists */
  | { kind: 'requests'; filters: readonly ListFilter[] };

export interface CompletionFlag {
  /** every spelling: `--json`, `-h`; a negatable flag lists `--x` and `--no-x` */
  names: string[];
  takesValue: boolean;
  description: string;
  values: ValueSource;
}

export interface CompletionArg {
  name: string;
  description: string;
  variadic: boolean;
  values: ValueSource;
}

export interface CompletionNode {
  /** words after `byoc`, space-separated; '' for the root */
  path: string;
  description: string;
  hidden: boolean;
  /** a command that runs (it may be a group too, like `query`) */
  runnable: boolean;
  subcommands: string[];
  /** the command's own flags (the global ones are in the tree) */
  flags: CompletionFlag[];
  args: CompletionArg[];
}

export interface CompletionTree {
  nodes: ReadonlyMap<string, CompletionNode>;
  /** flags every command accepts */
  globals: CompletionFlag[];
}

export interface Candidate {
  value: string;
  description?: string;
}

/** The values only byoc knows at the time of the TAB; each may fail or be slow, which the caller bounds. */
export interface CandidateSources {
  services(): Promise<Candidate[]>;
  requests(filters: readonly ListFilter[]): Promise<Candidate[]>;
  presets(): Promise<Candidate[]>;
}
