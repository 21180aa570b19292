#!/usr/bin/env node
// `npm run bench`: runs every benchmark script under bench/ and prints one table of all measures.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spreadText } from './lib.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const scripts = readdirSync(dir).filter((name) => name.endsWith('.js') && name !== 'run.js' && !name.startsWith('lib')).sort();
const rows = [];
for (const script of scripts) {
  process.stderr.write(`running bench/${script}...\n`);
  const result = spawnSync(process.execPath, [`${dir}${script}`, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) {
    rows.push({ bench: script, name: '(failed)', byoc: `exit ${result.status}`, baseline: '', ratio: undefined, target: '' });
    continue;
  }
  for (const line of result.stdout.split('\n').filter(Boolean)) rows.push(JSON.parse(line));
}
const table = [['bench', 'measure', 'byoc', 'baseline', 'ratio', 'target', 'ok', 'spread (p25-p75)']];
for (const row of rows) {
  const num = (value) => (typeof value === 'number' ? `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}${row.unit ? ` ${row.unit}` : ''}` : String(value ?? ''));
  table.push([
    row.bench,
    row.name,
    num(row.byoc),
    row.baselineName ? `${num(row.baseline)} (${row.baselineName})` : '',
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}x`,
    row.target ?? '',
    row.ok === undefined ? '' : row.ok ? 'yes' : 'NO',
    row.spread ? spreadText(row.spread) : '',
  ]);
}
const widths = table[0].map((_, column) => Math.max(...table.map((row) => row[column].length)));
for (const row of table) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()}\n`);
process.exitCode = rows.some((row) => row.ok === false || row.name === '(failed)') ? 1 : 0;
