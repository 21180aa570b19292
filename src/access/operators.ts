import type { Context } from '../context.js';
import type { AccessBroker, BrokerDeps } from './broker.js';
import type { AccessRequest } from './types.js';

/**
 * A deployment the broker operates itself: for its service, the operator step (a server user per approved request,
 * its removal on revocation and expiry) is applied there by the broker, not by a customer's operator. The access
 * domain knows such deployments only through this interface and the registry below.
 */
export interface ServiceOperator {
  onApproved(request: AccessRequest): Promise<void>;
  onRevoked(request: AccessRequest): Promise<void>;
  /** Server-side expiry (and anything else that goes stale): runs before broker operations, at most once a second. */
  sweep(): Promise<void>;
}

/** What an operator is given when the broker loads it. */
export interface OperatorSite {
  ctx: Context;
  stateDir: string;
  broker: AccessBroker;
}

/** How a deployment registers itself for its service, without being loaded. */
export interface OperatorRegistration {
  /** the service whose requests it operates; requests for any other service never reach it */
  service: string;
  /**
   * Whether the deployment exists in this state folder. The sweep asks before every broker operation and most
   * users have no such deployment, so this is at most one stat, and nothing is loaded.
   */
  present(stateDir: string): boolean;
  /** Loads the operator (its heavy modules load only here, when a hook has work for it). */
  load(site: OperatorSite): Promise<ServiceOperator>;
}

/** The operators wired into this process (src/clients.ts); a test passes its own. */
export type OperatorRegistry = readonly OperatorRegistration[];

declare module '../context.js' {
  interface Clients {
    operators: OperatorRegistry;
  }
}

export type OperatorHooks = Pick<BrokerDeps, 'onApproved' | 'onRevoked' | 'sweep'>;

/**
 * The broker's hooks for the registered operators: each request goes to the operator of its service (if any), and
 * the sweep visits the operators whose deployment is present. An operator loads once per broker, on first use.
 * `broker` is asked for lazily because the hooks are built before the broker they serve is open.
 */
export function operatorHooks(registry: OperatorRegistry, ctx: Context, broker: () => AccessBroker): OperatorHooks {
  if (registry.length === 0) return {};
  const stateDir = ctx.stateDir();
  const loaded = new Map<OperatorRegistration, Promise<ServiceOperator>>();
  const operator = (registration: OperatorRegistration) => {
    let found = loaded.get(registration);
    if (!found) {
      found = registration.load({ ctx, stateDir, broker: broker() });
      // a failed load is a warning now (the broker's), and is tried again next time
      void found.catch(() => loaded.delete(registration));
      loaded.set(registration, found);
    }
    return found;
  };
  const serving = (request: AccessRequest) => registry.find((registration) => registration.service === request.service);
  return {
    onApproved: async (request) => {
      const registration = serving(request);
      if (registration) await (await operator(registration)).onApproved(request);
    },
    onRevoked: async (request) => {
      const registration = serving(request);
      if (registration) await (await operator(registration)).onRevoked(request);
    },
    sweep: async () => {
      for (const registration of registry) {
        if (registration.present(stateDir)) await (await operator(registration)).sweep();
      }
    },
  };
}
