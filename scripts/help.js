#!/usr/bin/env node
// Part of `npm run build`, after tsc: renders every command's help through main (commander) into dist/help.json,
// which `byoc --help` prints without loading commander (src/precomputed-help.ts says when it may).
// test/unit/precomputed-help.test.ts fails when the file differs from what main prints today.
import { readFileSync, writeFileSync } from 'node:fs';

const { COMMANDS } = await import('../dist/commands/index.js');
const { renderHelpTexts } = await import('../dist/src/precomputed-help.js');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const help = await renderHelpTexts(COMMANDS, version);
writeFileSync(new URL('../dist/help.json', import.meta.url), `${JSON.stringify(help)}\n`);
