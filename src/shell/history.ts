import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from '../util/secure-fs.js';

/** Statements kept per service, newest last on disk; older ones are dropped (clickhouse-client keeps a bounded file too). */
export const HISTORY_SIZE = 1000;

/**
 * The shell's history for one service: a file in the state folder (0600, its folder 0700: statements can name
 * customer tables and values), one JSON string per line so a multi-line statement stays one entry.
 */
export class ShellHistory {
  readonly file: string;
  #entries: string[] = [];

  constructor(stateDir: string, service: string) {
    this.file = path.join(stateDir, 'shell-history', `${encodeURIComponent(service)}.jsonl`);
  }

  /** Reads the file (none yet: empty); lines that are not JSON strings (a hand edit, a torn write) are skipped. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    this.#entries = text
      .split('\n')
      .flatMap((line) => {
        try {
          const entry: unknown = JSON.parse(line);
          return typeof entry === 'string' && entry ? [entry] : [];
        } catch {
          return [];
        }
      })
      .slice(-HISTORY_SIZE);
  }

  /** Oldest first. */
  get entries(): readonly string[] {
    return this.#entries;
  }

  /** Adds a statement as typed (a repeat of the last one is not added twice), and writes the file at once. */
  async add(statement: string): Promise<void> {
    if (!statement.trim() || this.#entries.at(-1) === statement) return;
    this.#entries = [...this.#entries.filter((entry) => entry !== statement), statement].slice(-HISTORY_SIZE);
    // Whole and atomic each time: a crash leaves the old file or the new one (1000 short lines is a small write).
    await writePrivateFile(this.file, this.#entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
  }
}
