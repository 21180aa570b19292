import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import { AccessBroker, brokerDir, DEFAULT_AUDITORS_GROUP, type BrokerDeps } from './broker.js';
import type { BrokerClient } from './client.js';
import { servicesFromConfig } from './policy.js';
import type { Configuration } from '../config/configuration.js';
import type { LockOwner, StoreOptions } from './store.js';
import type { StoredRecord } from './chain.js';
import { operatorHooks } from './operators.js';
import type { Notifier } from '../notify/notifier.js';

declare module '../context.js' {
  interface Clients {
    broker: BrokerClient;
  }
}

/** The broker for this invocation: a served one when broker.url is set, else the embedded one on the state folder. */
export async function connectBroker(ctx: Context): Promise<BrokerClient> {
  const configuration = await ctx.config();
  const url = configuration.get<string>('broker.url');
  if (url) {
    const { HttpBrokerClient } = await import('./http-client.js');
    const { brokerAgentFor } = await import('../net/agents.js');
    // A static token (automation) when given, else the OIDC session of this state folder (byoc login), renewed silently.
    const token = ctx.env.BYOC_TOKEN || (await import('../auth/sign-in.js')).sessionBearer(ctx, url);
    return new HttpBrokerClient({ url, token, agent: await brokerAgentFor(ctx, new URL(url)), signal: ctx.signal });
  }
  const identity = configuration.get<string>('user');
  if (!identity) {
    throw new ConfigError('identity_missing', 'byoc does not know who you are', {
      hint: 'Set user in the configuration or BYOC_USER=you@vendor.example (embedded broker), or broker.url and then byoc login or BYOC_TOKEN (served broker).',
    });
  }
  // A decision taken here is notified from here: this process waits a bounded time for its deliveries (src/notify).
  const notifier = await notifierFor(ctx, configuration, 'embedded');
  const broker = await openBroker(ctx, configuration, notifier ? { notifier } : {});
  // Embedded, groups come from the configuration (`groups`, BYOC_GROUPS) like the identity: the state folder's
  // owner can read the event log anyway, so they only choose what `access list` shows.
  const where = await brokerStore(ctx, configuration);
  return embeddedClient(broker, { identity, groups: configuration.get<string[]>('groups') ?? [] }, where.kind === 'folder' ? where.dir : (await import('./postgres/connection.js')).redact(where.url));
}

/**
 * Opens the broker on this machine's state folder (embedded mode, and `byoc broker serve`), with the hooks of the
 * operators registered for their services (ctx.client('operators')): a deployment the broker operates itself
 * applies approvals, revocations and expiry there. `operatorHooks: false` opens it without them (for the deployment
 * itself, which opens the broker as its authority). `hold: true` (`byoc broker serve`) keeps the store's lock until
 * broker.close(): the one writer while it serves.
 */
export async function openBroker(
  ctx: Context,
  configuration: Configuration,
  options: { operatorHooks?: boolean; hold?: boolean; notifier?: Pick<Notifier, 'publish'> } = {},
): Promise<AccessBroker> {
  const stateDir = ctx.stateDir();
  const registry = options.operatorHooks === false ? [] : await ctx.client('operators');
  // The hooks reach the broker only once it is open (they run on its decisions, never while it replays).
  const hooks = operatorHooks(registry, ctx, () => broker);
  const where = await brokerStore(ctx, configuration);
  const { close: closeStore, ...storeDeps }: Pick<BrokerDeps, 'ca' | 'openStore' | 'dir'> & { close?: () => Promise<void> } =
    where.kind === 'postgres'
      ? await postgresDeps(ctx, where)
      : {
          dir: where.dir,
          // node-forge (behind the CA) loads only when a certificate is signed or the CA is served.
          ca: async () => (await import('../pki/ca.js')).loadOrCreateCaInFolder(where.dir, ctx.clock.now(), brokerStoreOptions(ctx)),
        };
  const broker: AccessBroker = await AccessBroker.open(stateDir, {
    // The global policy by flag > env > file > default like any setting (BYOC_POLICY_* included).
    services: servicesFromConfig({ ...configuration.data, policy: configuration.policy() }, configuration.registeredPolicies()),
    now: () => ctx.clock.now(),
    ...storeDeps,
    store: { ...brokerStoreOptions(ctx), ...(options.hold ? { hold: true } : {}) },
    admins: configuration.get<string[]>('broker.admins') ?? [],
    auditorsGroup: configuration.get<string>('broker.auditorsGroup') ?? DEFAULT_AUDITORS_GROUP,
    ...hooks,
    ...(options.notifier ? { onDecision: (event, request) => options.notifier!.publish(event, request) } : {}),
  }).catch(async (error: unknown) => {
    await closeStore?.();
    throw error;
  });
  return broker;
}

/** Where the broker keeps its events and CA (broker.store): a folder (the JSONL log) or PostgreSQL. */
export type BrokerStoreLocation = { kind: 'folder'; dir: string } | { kind: 'postgres'; url: string; password: string | undefined };

export async function brokerStore(ctx: Pick<Context, 'env' | 'cwd' | 'stateDir'>, configuration: Configuration): Promise<BrokerStoreLocation> {
  const value = configuration.get<string>('broker.store');
  if (value && /^postgres(ql)?:\/\//i.test(value)) return { kind: 'postgres', url: value, password: await storePassword(ctx, configuration) };
  return { kind: 'folder', dir: value ? path.resolve(ctx.cwd, value) : brokerDir(ctx.stateDir()) };
}

/**
 * The stored records of a PostgreSQL broker store, for `byoc broker verify` (read without replaying anything), or
 * undefined for a folder store (whose log verify reads itself). Close it after reading.
 */
export async function postgresRecords(
  ctx: Pick<Context, 'env' | 'cwd' | 'stateDir' | 'log'>,
  configuration: Configuration,
): Promise<{ where: string; records: () => AsyncIterable<StoredRecord>; close: () => Promise<void> } | undefined> {
  const where = await brokerStore(ctx, configuration);
  if (where.kind !== 'postgres') return undefined;
  const { PostgresStore } = await import('./postgres/store.js');
  const store = await PostgresStore.connect({ url: where.url, ...(where.password === undefined ? {} : { password: where.password }), warn: (message) => ctx.log.warn(message) });
  return { where: store.where, records: () => store.records(), close: () => store.close() };
}

/** The database password: from the environment or a file, never a flag (a flag shows in ps and shell history). */
export async function storePassword(ctx: Pick<Context, 'env' | 'cwd'>, configuration: Configuration): Promise<string | undefined> {
  const fromEnv = ctx.env.BYOC_BROKER_STORE_PASSWORD || ctx.env.PGPASSWORD;
  if (fromEnv) return fromEnv;
  const file = configuration.get<string>('broker.storePasswordFile');
  if (!file) return undefined;
  const resolved = path.resolve(ctx.cwd, file);
  try {
    return (await readFile(resolved, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError('store_password_unreadable', `broker.storePasswordFile ${file}: cannot read ${resolved} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      hint: `Check the path and that this user can read it (ls -l ${resolved}), or set BYOC_BROKER_STORE_PASSWORD.`,
    });
  }
}

/** The broker's store and CA in PostgreSQL (pg and node-forge load only here). */
async function postgresDeps(
  ctx: Pick<Context, 'log' | 'clock'>,
  where: { url: string; password: string | undefined },
): Promise<Pick<BrokerDeps, 'ca' | 'openStore'> & { close: () => Promise<void> }> {
  const { PostgresStore } = await import('./postgres/store.js');
  if (URL.canParse(where.url) && new URL(where.url).password !== '') {
    ctx.log.warn('broker.store carries a password: byoc config show prints it and logs keep it; set BYOC_BROKER_STORE_PASSWORD or broker.storePasswordFile instead');
  }
  const store = await PostgresStore.connect({ url: where.url, ...(where.password === undefined ? {} : { password: where.password }), warn: (message) => ctx.log.warn(message) });
  return {
    openStore: (apply, _resume, reset) => store.open(apply, reset),
    ca: async () => (await import('../pki/ca.js')).loadOrCreateCaIn(store, ctx.clock.now()),
    close: () => store.close(),
  };
}

/**
 * The notifications the configuration asks for (src/notify, loaded only then), or undefined. `served`: `byoc broker
 * serve`, which also runs the timer's events; `embedded`: a command that waits a bounded time for its deliveries.
 */
export async function notifierFor(ctx: Context, configuration: Configuration, mode: 'served' | 'embedded'): Promise<Notifier | undefined> {
  const { data } = configuration;
  if (!data.notify && !Object.values(data.services ?? {}).some((service) => service.notify)) return undefined;
  return (await import('../notify/notifier.js')).createNotifier(ctx, configuration, mode);
}

/**
 * The options of the broker store and its lock for this process: warnings to stderr, the clock's sleep, and this
 * process as the lock's owner (the one place its pid, host name and liveness checks come from).
 */
export function brokerStoreOptions(ctx: Pick<Context, 'log' | 'clock'>): StoreOptions {
  return { warn: (message) => ctx.log.warn(message), sleep: (ms) => ctx.clock.sleep(ms), owner: processLockOwner() };
}

export function processLockOwner(): LockOwner {
  return {
    pid: process.pid,
    host: os.hostname(),
    isAlive(pid) {
      try {
        process.kill(pid, 0);
        return true;
      } catch (error) {
        // EPERM: it exists but belongs to another user
        return (error as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
  };
}

export function embeddedClient(broker: AccessBroker, caller: string | { identity: string; groups: readonly string[] }, dir: string): BrokerClient {
  const identity = typeof caller === 'string' ? caller : caller.identity;
  return {
    location: `embedded (${dir})`,
    whoami: async () => identity,
    create: (input) => broker.create(identity, input),
    get: (id) => broker.get(caller, id),
    list: (filter) => broker.list(caller, filter),
    approve: (id, comment) => broker.approve(caller, id, comment),
    deny: (id, comment) => broker.deny(caller, id, comment),
    revoke: (id, comment) => broker.revoke(caller, id, comment),
    issueCertificate: (id, csr) => broker.issueCertificate(caller, id, csr),
    operatorConfig: (id, format) => broker.operatorConfig(caller, id, format),
    ca: () => broker.caCertificate(),
    crl: () => broker.crl(),
    // Embedded, whoever holds the state folder is the broker's operator: no admin list to pass.
    createToken: (input) => broker.issueToken(identity, input),
    listTokens: () => broker.listTokens(),
    revokeToken: (id) => broker.revokeToken(identity, id),
    changed: (signal) => broker.changed(signal),
  };
}
