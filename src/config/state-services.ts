import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ServiceConfig } from './schema.js';

/**
 * Services registered in the state folder (`services.json`), e.g. by `byoc sandbox up`, so that every command
 * knows them with no config file. A configured service of the same name wins.
 */
export async function stateServices(stateDir: string): Promise<Record<string, ServiceConfig & { resolve?: Record<string, string>; caFile?: string }>> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, 'services.json'), 'utf8'));
  } catch {
    return {};
  }
}
