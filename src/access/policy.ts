import { ConfigError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import type { ConfigData, PolicyConfig } from '../config/schema.js';
import { SHARED } from '../options.js';

export interface Policy {
  approvers: string[];
  approvals: number;
  maxDurationMs: number;
  maxDuration: string;
  pendingTtlMs: number;
}

/** The declared defaults (src/options.ts), for a policy that leaves a key out. */
const DEFAULT_POLICY = {
  approvers: SHARED.approvers.default,
  approvals: SHARED.approvals.default,
  maxDuration: SHARED.maxDuration.default,
  pendingTtl: SHARED.pendingTtl.default,
};

/** What the broker knows of a service: its policy (the global one with the service's overrides). */
export interface BrokerServices {
  names(): string[];
  policy(service: string): Policy | undefined;
}

export function servicesFromConfig(data: ConfigData, extra: Record<string, { policy?: PolicyConfig }> = {}): BrokerServices {
  const services = { ...extra, ...(data.services ?? {}) };
  // Resolved once per service (the configuration is read once per process); a served broker asks on every
  // request and review. An invalid policy is not kept: it is refused again, with its error, each time.
  const resolved = new Map<string, Policy>();
  return {
    names: () => Object.keys(services).sort(),
    policy(service) {
      if (!Object.hasOwn(services, service)) return undefined;
      const known = resolved.get(service);
      if (known) return known;
      const policy = Object.freeze(resolvePolicy(data.policy, services[service]!.policy, service));
      resolved.set(service, policy);
      return policy;
    },
  };
}

export function resolvePolicy(global: PolicyConfig | undefined, local: PolicyConfig | undefined, service: string): Policy {
  const merged = { ...DEFAULT_POLICY, approvers: [...DEFAULT_POLICY.approvers], ...stripUndefined(global), ...stripUndefined(local) };
  const maxDurationMs = parseDuration(merged.maxDuration);
  const pendingTtlMs = parseDuration(merged.pendingTtl);
  if (maxDurationMs === undefined || pendingTtlMs === undefined) {
    throw new ConfigError('policy_invalid', `the policy for ${service} has an invalid duration`, { hint: 'Use durations such as 30m or 8h.' });
  }
  return { approvers: merged.approvers, approvals: merged.approvals, maxDurationMs, maxDuration: merged.maxDuration, pendingTtlMs };
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
