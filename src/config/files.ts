import { ConfigError } from '../errors.js';
import type { Configuration } from './configuration.js';
import { readSmallFile } from '../util/read.js';

/**
 * A file the configuration names under `key` (a CA, a password file), relative to the config file, or a
 * clear exit 3 naming the key.
 */
export async function readConfiguredFile(configuration: Configuration, key: string, file: string, code = 'file_unreadable'): Promise<string> {
  const resolved = configuration.pathFromFile(file);
  try {
    return await readSmallFile(resolved);
  } catch (error) {
    throw new ConfigError(code, `${key}: cannot read ${resolved} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      hint: `Fix ${key} in the configuration (relative paths are relative to the config file).`,
    });
  }
}
