import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const require = createRequire(import.meta.url);
const { readOwnModulesSynchronously } = require('../../../bin/own-modules.js') as { readOwnModulesSynchronously: (dir: string) => void };

describe('bin/own-modules: byoc reads its own compiled files synchronously', () => {
  const original = fs.promises.readFile;
  let dir: string;
  let outside: string;
  let asBefore: ReturnType<typeof vi.fn>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'byoc-own-'));
    outside = await mkdtemp(path.join(os.tmpdir(), 'byoc-other-'));
    await writeFile(path.join(dir, 'module.js'), 'export const answer = 42;\n');
    await writeFile(path.join(outside, 'module.js'), 'not ours\n');
    // Given fs/promises readFile as Node had it (a stand-in that records every call it gets)
    asBefore = vi.fn((...args: Parameters<typeof original>) => original(...args));
    fs.promises.readFile = asBefore as unknown as typeof original;
    readOwnModulesSynchronously(dir);
  });

  afterEach(async () => {
    fs.promises.readFile = original;
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('reads a file under its folder itself, by path or file URL, with the same content', async () => {
    // When the loader reads one of byoc's files (it passes a URL) and a caller passes a path with an encoding
    const byUrl = await fs.promises.readFile(pathToFileURL(path.join(dir, 'module.js')));
    const byPath = await fs.promises.readFile(path.join(dir, 'module.js'), 'utf8');
    // Then both come back as Node would read them, without the read Node had
    expect(byUrl.toString()).toBe('export const answer = 42;\n');
    expect(byPath).toBe('export const answer = 42;\n');
    expect(asBefore).not.toHaveBeenCalled();
  });

  it('rejects as Node does for a missing file of its own', async () => {
    // When a file under the folder does not exist / Then the promise rejects with ENOENT
    await expect(fs.promises.readFile(path.join(dir, 'missing.js'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('leaves every other read to Node: another folder, a folder that only shares a prefix, a file handle', async () => {
    // When files elsewhere are read
    expect(await fs.promises.readFile(path.join(outside, 'module.js'), 'utf8')).toBe('not ours\n');
    await fs.promises.readFile(`${dir}-sibling/module.js`).catch(() => undefined);
    const handle = await fs.promises.open(path.join(dir, 'module.js'));
    try {
      await fs.promises.readFile(handle);
    } finally {
      await handle.close();
    }
    // Then each went to the read Node had
    expect(asBefore).toHaveBeenCalledTimes(3);
  });
});
