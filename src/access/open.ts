import os from 'node:os';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import { AccessBroker, brokerDir } from './broker.js';
import type { BrokerClient } from './client.js';
import { servicesFromConfig } from './policy.js';
import type { Configuration } from '../config/configuration.js';
import type { LockOwner, StoreOptions } from './store.js';
import { operatorHooks } from './operators.js';

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
    return new HttpBrokerClient({ url, token: ctx.env.BYOC_TOKEN, agent: await brokerAgentFor(ctx, new URL(url)), signal: ctx.signal });
  }
  const identity = configuration.get<string>('user');
  if (!identity) {
    throw new ConfigError('identity_missing', 'byoc does not know who you are', {
      hint: 'Set user in the configuration or BYOC_USER=you@vendor.example (embedded broker), or broker.url with BYOC_TOKEN (served broker).',
    });
  }
  const broker = await openBroker(ctx, configuration);
  return embeddedClient(broker, identity, brokerDir(ctx.stateDir()));
}

/**
 * Opens the broker on this machine's state folder (embedded mode, and `byoc broker serve`), with the hooks of the
 * operators registered for their services (ctx.client('operators')): a deployment the broker operates itself
 * applies approvals, revocations and expiry there. `operatorHooks: false` opens it without them (for the deployment
 * itself, which opens the broker as its authority). `hold: true` (`byoc broker serve`) keeps the store's lock until
 * broker.close(): the one writer while it serves.
 */
export async function openBroker(ctx: Context, configuration: Configuration, options: { operatorHooks?: boolean; hold?: boolean } = {}): Promise<AccessBroker> {
  const stateDir = ctx.stateDir();
  const registry = options.operatorHooks === false ? [] : await ctx.client('operators');
  // The hooks reach the broker only once it is open (they run on its decisions, never while it replays).
  const hooks = operatorHooks(registry, ctx, () => broker);
  const broker: AccessBroker = await AccessBroker.open(stateDir, {
    // The global policy by flag > env > file > default like any setting (BYOC_POLICY_* included).
    services: servicesFromConfig({ ...configuration.data, policy: configuration.policy() }, configuration.registeredPolicies()),
    now: () => ctx.clock.now(),
    // node-forge (behind the CA) loads only when a certificate is signed or the CA is served.
    ca: async () => (await import('../pki/ca.js')).loadOrCreateBrokerCa(stateDir, ctx.clock.now(), brokerStoreOptions(ctx)),
    store: { ...brokerStoreOptions(ctx), ...(options.hold ? { hold: true } : {}) },
    ...hooks,
  });
  return broker;
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

export function embeddedClient(broker: AccessBroker, identity: string, dir: string): BrokerClient {
  return {
    location: `embedded (${dir})`,
    whoami: async () => identity,
    create: (input) => broker.create(identity, input),
    get: (id) => broker.get(identity, id),
    list: (filter) => broker.list(identity, filter),
    approve: (id, comment) => broker.approve(identity, id, comment),
    deny: (id, comment) => broker.deny(identity, id, comment),
    revoke: (id, comment) => broker.revoke(identity, id, comment),
    issueCertificate: (id, csr) => broker.issueCertificate(identity, id, csr),
    operatorConfig: (id, format) => broker.operatorConfig(identity, id, format),
    ca: () => broker.caCertificate(),
    crl: () => broker.crl(),
  };
}
