#!/usr/bin/env node
// Start-up cost of byoc against a bare `node -e 0`, interleaved so machine noise hits all three alike.
// Budget: --version <= 1.5x and --help <= 2.0x of node -e 0 (medians).
import { BYOC, median, report, timeRun } from './lib.js';

const runs = Number(process.env.BENCH_RUNS ?? 21);
const samples = { node: [], version: [], help: [] };
timeRun(process.execPath, [BYOC, '--help']); // warm the file cache once
for (let i = 0; i < runs; i++) {
  samples.node.push(timeRun(process.execPath, ['-e', '0']));
  samples.version.push(timeRun(process.execPath, [BYOC, '--version']));
  samples.help.push(timeRun(process.execPath, [BYOC, '--help']));
}
const baseline = median(samples.node);
const measure = (name, values, budget) => {
  const value = median(values);
  return { name, byoc: value, baseline, baselineName: 'node -e 0', unit: 'ms', ratio: value / baseline, target: `<= ${budget}x`, ok: value / baseline <= budget };
};
report(`startup (median of ${runs} interleaved runs)`, [
  measure('byoc --version', samples.version, 1.5),
  measure('byoc --help', samples.help, 2.0),
]);
