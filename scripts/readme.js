#!/usr/bin/env node
// `npm run readme`: rewrites the README's settings table from the option declarations (after a build).
// test/unit/readme.test.ts fails when the README's table differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';

const { manifest } = await import('../dist/commands/index.js');
const { settingsTable, withTable } = await import('../dist/src/config/table.js');
const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withTable(before, await settingsTable(manifest));
if (after === before) {
  process.stdout.write('README.md: the settings table is current\n');
} else {
  writeFileSync(file, after);
  process.stdout.write('README.md: settings table rewritten\n');
}
