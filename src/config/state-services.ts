import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PolicyConfig, ServiceConfig } from './schema.js';

/** A service registered in the state folder, e.g. by `byoc sandbox up`. */
export interface StateService extends ServiceConfig {
  /** like network.resolve, for this service's names */
  resolve?: Record<string, string>;
  /** CA bundle that signed the service's server certificates */
  caFile?: string;
  policy?: PolicyConfig;
  /** the customer's own audit connection (the sandbox registers its customer_admin) */
  audit?: { url?: string; user?: string; passwordFile?: string; passwordEnv?: string; caFile?: string };
}

/**
 * Services registered in the state folder (`services.json`), so that every command knows them with no
 * config file. A configured service of the same name wins.
 */
export async function stateServices(stateDir: string): Promise<Record<string, StateService>> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, 'services.json'), 'utf8')) as Record<string, StateService>;
  } catch {
    return {};
  }
}
