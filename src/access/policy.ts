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
  return {
    names: () => Object.keys(services).sort(),
    policy(service) {
      const entry = services[service];
      if (!entry) return undefined;
      return resolvePolicy(data.policy, entry.policy, service);
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
