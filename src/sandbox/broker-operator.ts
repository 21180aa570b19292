/**
 * The sandbox as a deployment the broker operates itself: it registers for its service (src/clients.ts wires it in)
 * so that the broker applies approvals, revocations and expiry to it. This module stays light: the operator step
 * itself (src/sandbox/operator.ts) loads only when a hook has work for it.
 */
import { existsSync } from 'node:fs';
import type { AccessBroker } from '../access/broker.js';
import type { OperatorRegistration } from '../access/operators.js';
import { SANDBOX_SERVICE, sandboxPaths } from './layout.js';
import type { SandboxAuthority } from './operator.js';

export const sandboxOperator: OperatorRegistration = {
  service: SANDBOX_SERVICE,
  // Set up once (`sandbox up` writes sandbox.json; `down` keeps it, `down --purge` removes it): a sandbox that is
  // down still has grants to record, revoke and expire, which `sandbox up` then applies.
  present: (stateDir) => existsSync(sandboxPaths(stateDir).state),
  async load({ ctx, stateDir, broker }) {
    const [operator, { sandboxHostFor }] = await Promise.all([import('./operator.js'), import('./host.js')]);
    const host = sandboxHostFor(ctx, false);
    const authority = sandboxAuthority(broker);
    return {
      onApproved: operator.onApproved(stateDir, host, authority),
      onRevoked: operator.onRevoked(stateDir, host, authority),
      sweep: async () => {
        await operator.sweepSandbox(stateDir, host, authority);
      },
    };
  },
};

/** What the sandbox asks of the broker that runs it: the CRL for nginx and the approved sandbox requests. */
export function sandboxAuthority(broker: AccessBroker): SandboxAuthority {
  return {
    ca: () => broker.certificateAuthority(),
    crl: () => broker.crl(),
    approved: async () => (await broker.list(SANDBOX_SERVICE, { service: SANDBOX_SERVICE, status: 'approved' })).filter((request) => request.scopes.includes('clickhouse')),
  };
}
