import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** Every import specifier (static, dynamic, type-only) of each TypeScript file under `dir`, resolved against the repo. */
function importsUnder(dir: string): { file: string; target: string }[] {
  const found: { file: string; target: string }[] = [];
  for (const entry of readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.tsx?$/.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)) {
      const specifier = match[1]!;
      if (!specifier.startsWith('.')) continue;
      found.push({ file: path.relative(root, file), target: path.relative(root, path.resolve(path.dirname(file), specifier)) });
    }
  }
  return found;
}

describe('layering', () => {
  it('views declare their own props: nothing under src/ui imports a command', () => {
    const imports = importsUnder('src/ui');
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter(({ target }) => target.startsWith(`commands${path.sep}`))).toEqual([]);
  });

  it('the access domain knows no deployment by name: nothing under src/access imports the sandbox', () => {
    const imports = importsUnder('src/access');
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter(({ target }) => target.startsWith(path.join('src', 'sandbox')))).toEqual([]);
  });
});
