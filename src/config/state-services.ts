import { rm } from 'node:fs/promises';
import path from 'node:path';
import { readSmallFile } from '../util/read.js';
// Every run reads this file; only the sandbox writes it, so the writer (and node:crypto behind it) loads then.
const writePrivateFile = async (file: string, content: string) => (await import('../util/secure-fs.js')).writePrivateFile(file, content);
import type { PolicyConfig, ServiceConfig } from './schema.js';

/** A service registered in the state folder: a configured service plus how to reach it without a config file. */
export type StateService = ServiceConfig & {
  /** host name -> IP, like network.resolve */
  resolve?: Record<string, string>;
  /** the CA that signed the service's server certificate */
  caFile?: string;
  policy?: PolicyConfig;
  /** the service's Prometheus API (the sandbox registers its nginx metrics door) */
  prometheus?: { url?: string; caFile?: string; tlsServerName?: string };
  /** the customer's own audit connection (the sandbox registers its customer_admin) */
  audit?: { url?: string; user?: string; passwordFile?: string; passwordEnv?: string; caFile?: string };
};

const servicesFile = (stateDir: string) => path.join(stateDir, 'services.json');

/**
 * Services registered in the state folder (`services.json`), so that every command knows them with no
 * config file. A configured service of the same name wins.
 */
export async function stateServices(stateDir: string): Promise<Record<string, StateService>> {
  try {
    return JSON.parse(await readSmallFile(servicesFile(stateDir)));
  } catch {
    return {};
  }
}

/** Adds or replaces one registration, keeping the others (0600: it names local files). */
export async function registerStateService(stateDir: string, name: string, service: StateService): Promise<void> {
  const services = await stateServices(stateDir);
  services[name] = service;
  await writePrivateFile(servicesFile(stateDir), `${JSON.stringify(services, null, 2)}\n`);
}

/** Removes one registration; the file goes when it was the last. */
export async function unregisterStateService(stateDir: string, name: string): Promise<boolean> {
  const services = await stateServices(stateDir);
  if (!(name in services)) return false;
  delete services[name];
  if (Object.keys(services).length === 0) await rm(servicesFile(stateDir), { force: true });
  else await writePrivateFile(servicesFile(stateDir), `${JSON.stringify(services, null, 2)}\n`);
  return true;
}
