import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HISTORY_SIZE, ShellHistory } from '../../../src/shell/history.js';
import { tempDir } from '../../fakes/fs.js';

describe('ShellHistory', () => {
  it('writes one entry per statement (multi-line kept whole) to a 0600 file per service, and reads it back', async () => {
    // Given an empty state folder
    const stateDir = tempDir();
    const history = new ShellHistory(stateDir, 'acme-prod');
    await history.load();
    expect(history.entries).toEqual([]);
    // When statements are added, one repeated right after itself
    await history.add('SELECT 1\nFROM system.one;');
    await history.add('SELECT 2;');
    await history.add('SELECT 2;');
    // Then the file holds each once, private, and another service's history is separate
    expect(statSync(history.file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(history.file)).mode & 0o777).toBe(0o700);
    const again = new ShellHistory(stateDir, 'acme-prod');
    await again.load();
    expect(again.entries).toEqual(['SELECT 1\nFROM system.one;', 'SELECT 2;']);
    const other = new ShellHistory(stateDir, 'acme-staging');
    await other.load();
    expect(other.entries).toEqual([]);
  });

  it('keeps the newest HISTORY_SIZE entries, moves a repeated one to the end, and skips lines it cannot read', async () => {
    const stateDir = tempDir();
    const history = new ShellHistory(stateDir, 'acme-prod');
    for (let index = 0; index < HISTORY_SIZE + 5; index++) await history.add(`SELECT ${index};`);
    await history.add('SELECT 10;');
    expect(history.entries).toHaveLength(HISTORY_SIZE);
    expect(history.entries[0]).toBe('SELECT 5;'); // 0-4 dropped; moving 10 to the end freed no room
    expect(history.entries.at(-1)).toBe('SELECT 10;');
    expect(history.entries.filter((entry) => entry === 'SELECT 10;')).toHaveLength(1);
    // a torn or hand-edited line is skipped, not fatal
    writeFileSync(history.file, `${readFileSync(history.file, 'utf8')}{"not":"a string"}\nnot json\n`);
    const again = new ShellHistory(stateDir, 'acme-prod');
    await again.load();
    expect(again.entries.at(-1)).toBe('SELECT 10;');
  });
});
