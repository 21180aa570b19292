/**
 * The sandbox as a deployment the broker operates itself: it registers for its service (src/clients.ts wires it in)
 * so that the broker applies approvals, revocations and expiry to it. This module stays light: the operator step
 * itself (src/sandbox/operator.ts) loads only when a hook has work for it.
 */
import { existsSync } from 'node:fs';
import type { AccessBroker } from '../access/broker.js';
import type { OperatorRegistration } from '../access/operators.js';
import { SANDBOX_SERVICE, sandboxPaths } from './layout.js';
import { sweepDue } from './grants.js';
import type { SandboxAuthority } from './operator.js';
import type { SandboxHost } from './sandbox.js';

export const sandboxOperator: OperatorRegistration = {
  service: SANDBOX_SERVICE,
  // Set up once (`sandbox up` writes sandbox.json; `down` keeps it, `down --purge` removes it): a sandbox that is
  // down still has grants to record, revoke and expire, which `sandbox up` then applies.
  present: (stateDir) => existsSync(sandboxPaths(stateDir).state),
  load({ ctx, stateDir, broker }) {
    // The operator step (nginx and ClickHouse plumbing) loads only when a hook has work for it: the sweep runs
    // before every broker operation and almost never does.
    const authority = sandboxAuthority(broker);
    let loaded: Promise<{ operator: typeof import('./operator.js'); host: SandboxHost }> | undefined;
    const step = () =>
      (loaded ??= Promise.all([import('./operator.js'), import('./host.js')]).then(([operator, { sandboxHostFor }]) => ({ operator, host: sandboxHostFor(ctx, false) })));
    return Promise.resolve({
      onApproved: async (request) => {
        const { operator, host } = await step();
        await operator.onApproved(stateDir, host, authority)(request);
      },
      onRevoked: async (request) => {
        const { operator, host } = await step();
        await operator.onRevoked(stateDir, host, authority)(request);
      },
      sweep: async () => {
        const { expired, crlStale } = await sweepDue(sandboxPaths(stateDir), ctx.clock.now().getTime());
        if (expired.length === 0 && !crlStale) return;
        const { operator, host } = await step();
        await operator.sweepSandbox(stateDir, host, authority);
      },
    });
  },
};

/** What the sandbox asks of the broker that runs it: the CRL for nginx and the approved sandbox requests. */
export function sandboxAuthority(broker: AccessBroker): SandboxAuthority {
  return {
    ca: () => broker.certificateAuthority(),
    crl: () => broker.crl(),
    approved: async () => (await broker.approvedFor(SANDBOX_SERVICE)).filter((request) => request.scopes.includes('clickhouse') || request.scopes.includes('metrics')),
  };
}
