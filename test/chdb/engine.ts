/**
 * chdb (a current ClickHouse engine in-process) from this folder's own package, for the tests that prove SQL on a
 * current server. Absent: those tests are skipped with the install command, except under CI=true, where they must
 * run and a missing engine is a failure.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

interface ChdbSession {
  query(sql: string, format?: string): string;
  cleanup(): void;
}

/** The few chdb calls used here (its own types live in the separate package, which may be absent). */
export interface Chdb {
  query(sql: string, format?: string): string;
  Session: new (path?: string, options?: { connectionArgs?: string[] }) => ChdbSession;
}

export const CHDB_PACKAGE_JSON = fileURLToPath(new URL('./package.json', import.meta.url));
const INSTALL = 'npm install --prefix test/chdb --no-save --ignore-scripts';

function loadChdb(): Chdb | undefined {
  try {
    return createRequire(CHDB_PACKAGE_JSON)('chdb') as Chdb;
  } catch (error) {
    // Only "not installed" skips; an installed engine that fails to load is a failure to see.
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && /'chdb'/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** The engine, or undefined after registering the CI failure or printing why the suite named `name` is skipped. */
export function chdbFor(name: string): Chdb | undefined {
  const chdb = loadChdb();
  if (!chdb && process.env.CI === 'true') {
    describe(name, () => {
      it('runs under CI=true', () => {
        // Given CI / Then the engine must be installed: this proof may not be skipped silently
        throw new Error(`CI=true but chdb is not installed in test/chdb; .ci/run installs it (${INSTALL})`);
      });
    });
  } else if (!chdb) {
    console.warn(`${name} skipped: chdb is not installed (${INSTALL})`);
  }
  return chdb;
}
