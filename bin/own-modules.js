'use strict';
// Node 20's ES module loader reads every module's source with fs/promises readFile: open, stat, read and close,
// each a thread-pool round trip, module after module. On `byoc query` that is about 45 of byoc's own files and
// about 10 ms of waiting (measured against reading them synchronously: 112-119 ms -> 103-104 ms). Node 22 has a
// compile cache and a synchronous loader path; Node 20 has neither, so byoc reads its own compiled files (dist/)
// synchronously and leaves every other read to Node as it was. CommonJS with no dependency, like bin/byoc.js.
const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');
const path = require('node:path');
const { fileURLToPath } = require('node:url');

/**
 * Makes fs/promises readFile read files under `dir` synchronously (same result, same errors, as a settled promise).
 * @param {string} dir an absolute folder
 */
function readOwnModulesSynchronously(dir) {
  const prefix = dir.endsWith(path.sep) ? dir : `${dir}${path.sep}`;
  const { promises } = fs;
  const readFile = promises.readFile;
  promises.readFile = function readOwnFileOrAsBefore(file, options) {
    const where = file instanceof URL ? (file.protocol === 'file:' ? fileURLToPath(file) : undefined) : typeof file === 'string' ? file : undefined;
    if (where === undefined || !where.startsWith(prefix) || (options && typeof options === 'object' && options.signal)) {
      return readFile.apply(this, arguments);
    }
    try {
      return Promise.resolve(fs.readFileSync(where, options));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  // `import { readFile } from 'node:fs/promises'` sees the same function.
  syncBuiltinESMExports();
}

module.exports = { readOwnModulesSynchronously };
