#!/usr/bin/env node
// Start-up cost of byoc against a bare `node -e 0`, interleaved so machine noise hits all three alike.
// Targets: --version <= 1.2x and --help <= 1.3x of node -e 0 (medians), both piped (not a terminal), as scripts run them.
import { BYOC, compare, report, runsFromEnv, timeRun } from './lib.js';

const runs = runsFromEnv(21);
const samples = { node: [], version: [], help: [] };
timeRun(process.execPath, [BYOC, '--help']); // warm the file cache once
for (let i = 0; i < runs; i++) {
  samples.node.push(timeRun(process.execPath, ['-e', '0']));
  samples.version.push(timeRun(process.execPath, [BYOC, '--version']));
  samples.help.push(timeRun(process.execPath, [BYOC, '--help']));
}
report(`startup (median of ${runs} interleaved runs)`, [
  compare('byoc --version', samples.version, samples.node, { baselineName: 'node -e 0', budget: 1.2 }),
  compare('byoc --help', samples.help, samples.node, { baselineName: 'node -e 0', budget: 1.3 }),
]);
