#!/usr/bin/env node
// Plain JavaScript on purpose: this must run, and say something useful, on any Node version.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`byoc needs Node.js 20.19 or newer; this is ${process.version}. Install a newer Node.js (https://nodejs.org).\n`);
  process.exit(1);
}
const { runFromProcess } = await import('../dist/src/cli.js');
await runFromProcess(new URL(import.meta.url).pathname);
