#!/usr/bin/env node
// Part of `npm run build`, after tsc: what a run would otherwise compute from every command module, written once.
// - dist/help.json: every command's help as main (commander) renders it on a pipe, which bin/early.js prints for
//   `byoc --help` and the other plain help forms without loading commander (src/precomputed-help.ts);
// - dist/settings.json: every setting a configuration file may set, from the option declarations, against which
//   a file setting a command's key is checked without loading every command module (src/options.ts).
// test/unit/precomputed.test.ts fails when either differs from what the sources make today.
import { readFileSync, writeFileSync } from 'node:fs';

const { COMMANDS, settingsCatalog } = await import('../dist/commands/index.js');
const { renderHelpTexts } = await import('../dist/src/precomputed-help.js');
const { settingsData } = await import('../dist/src/config/settings.js');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const write = (name, value) => writeFileSync(new URL(`../dist/${name}`, import.meta.url), `${JSON.stringify(value)}\n`);
write('help.json', await renderHelpTexts(COMMANDS, version));
write('settings.json', settingsData(await settingsCatalog.all()));
