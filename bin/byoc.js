#!/usr/bin/env node
'use strict';
// Plain CommonJS on purpose (bin/package.json): this must run, and say something useful, on any Node version; and
// the two answers scripts and people ask for most, --version and --help, are printed from here before Node starts
// its ES module loader (about 3 ms, a tenth of byoc's whole start-up budget). Everything else is src/cli.ts.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`byoc needs Node.js 20.19 or newer; this is ${process.version}. Install a newer Node.js (https://nodejs.org).\n`);
  process.exit(1);
}
const { answerEarly } = require('./early.js');
if (!answerEarly(process.argv.slice(2), process.stdout)) {
  require('./own-modules.js').readOwnModulesSynchronously(require('node:path').join(__dirname, '..', 'dist'));
  import('../dist/src/cli.js').then(({ runFromProcess }) => runFromProcess(__filename));
}
