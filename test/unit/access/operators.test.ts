import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SWEEP_INTERVAL_MS } from '../../../src/access/broker.js';
import { openBroker } from '../../../src/access/open.js';
import type { OperatorRegistration, OperatorSite, ServiceOperator } from '../../../src/access/operators.js';
import type { AccessRequest } from '../../../src/access/types.js';
import { defaultClients } from '../../../src/clients.js';
import { sandboxOperator } from '../../../src/sandbox/broker-operator.js';
import { sandboxPaths } from '../../../src/sandbox/layout.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';

/** An operator for `acme-lab` that records what reaches it (and when it was loaded, and asked whether it is there). */
function recordingOperator(options: { present?: boolean; failLoad?: Error } = {}) {
  const seen: string[] = [];
  let loads = 0;
  let presenceChecks = 0;
  const sites: OperatorSite[] = [];
  const operator: ServiceOperator = {
    onApproved: async (request: AccessRequest) => void seen.push(`approved ${request.service} ${request.id}`),
    onRevoked: async (request: AccessRequest) => void seen.push(`revoked ${request.service} ${request.id}`),
    sweep: async () => void seen.push('sweep'),
  };
  const registration: OperatorRegistration = {
    service: 'acme-lab',
    present: () => {
      presenceChecks++;
      return options.present ?? true;
    },
    load: async (site) => {
      loads++;
      sites.push(site);
      if (options.failLoad) throw options.failLoad;
      return operator;
    },
  };
  return { registration, seen, loads: () => loads, presenceChecks: () => presenceChecks, sites };
}

async function brokerWith(registrations: OperatorRegistration[], options: { operatorHooks?: boolean } = {}) {
  const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-lab: {}, acme-prod: {} }\n` });
  const stateDir = tempDir();
  const clock = new FakeClock(new Date());
  const harness = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir }, clock, clients: { operators: async () => registrations } });
  const broker = await openBroker(harness.ctx, await harness.ctx.config(), options);
  const approved = async (service: string) => {
    const created = await broker.create(ALICE, { service, reason: 'test', duration: '1h' });
    await broker.approve(BOB, created.id);
    return created.id;
  };
  return { broker, clock, stateDir, approved, stderr: () => harness.stderr.text };
}

describe('the broker operator registry', () => {
  it("hands approvals and revocations of the operator's service to it, and nothing of other services", async () => {
    // Given an operator registered for acme-lab
    const lab = recordingOperator();
    const { broker, approved } = await brokerWith([lab.registration]);
    // When a request for each service is approved and then revoked
    const labId = await approved('acme-lab');
    const prodId = await approved('acme-prod');
    await broker.revoke(ALICE, labId);
    await broker.revoke(ALICE, prodId);
    // Then only acme-lab's reached the operator, loaded once, for the broker that opened it
    expect(lab.seen.filter((entry) => entry !== 'sweep')).toEqual([`approved acme-lab ${labId}`, `revoked acme-lab ${labId}`]);
    expect(lab.loads()).toBe(1);
    expect(lab.sites[0]!.broker).toBe(broker);
  });

  it('sweeps only a deployment that is present, and loads nothing for one that is not', async () => {
    // Given an operator whose deployment does not exist here
    const absent = recordingOperator({ present: false });
    const { broker, clock } = await brokerWith([absent.registration]);
    // When broker operations run over two sweep intervals
    await broker.list(ALICE);
    clock.advance(SWEEP_INTERVAL_MS);
    await broker.list(ALICE);
    // Then it was asked whether it is there each time, and never loaded or swept
    expect(absent.presenceChecks()).toBe(2);
    expect(absent.loads()).toBe(0);
    expect(absent.seen).toEqual([]);
    // Given one that is present / When an operation runs / Then it is swept
    const present = recordingOperator();
    const second = await brokerWith([present.registration]);
    await second.broker.list(ALICE);
    expect(present.seen).toEqual(['sweep']);
  });

  it('opens without any hooks when asked to (the deployment opening its own authority)', async () => {
    // Given an operator for acme-lab, and the broker opened with operatorHooks: false
    const lab = recordingOperator();
    const { broker, approved } = await brokerWith([lab.registration], { operatorHooks: false });
    // When an acme-lab request is approved and revoked, and a sweep is asked for
    await broker.revoke(ALICE, await approved('acme-lab'));
    await broker.sweep();
    // Then the operator was neither asked nor loaded
    expect([lab.presenceChecks(), lab.loads(), lab.seen.length]).toEqual([0, 0, 0]);
  });

  it('turns an operator that fails to load into a warning, keeps the approval, and tries again next time', async () => {
    // Given an operator whose load fails
    const broken = recordingOperator({ failLoad: new Error('cannot load the operator') });
    const { broker, approved, stderr } = await brokerWith([broken.registration]);
    // When two acme-lab requests are approved
    const first = await approved('acme-lab');
    await approved('acme-lab');
    // Then both approvals stand, each with a warning, and each tried to load it
    expect((await broker.get(ALICE, first)).status).toBe('approved');
    expect(stderr()).toContain(`the operator step for ${first} failed: cannot load the operator`);
    expect(broken.loads()).toBeGreaterThanOrEqual(2);
  });
});

describe("the sandbox's registration", () => {
  it('is wired into the real clients, for the sandbox service only', async () => {
    // Given the clients byoc runs with / Then the operators are the sandbox's, registered for "sandbox"
    const registry = await defaultClients().operators!(testContext().ctx);
    expect(registry.map((registration) => registration.service)).toEqual(['sandbox']);
    expect(registry[0]).toBe(sandboxOperator);
  });

  it('is present once a sandbox was set up in the state folder, and not before', () => {
    // Given an empty state folder / Then no sandbox
    const stateDir = tempDir();
    expect(sandboxOperator.present(stateDir)).toBe(false);
    // When `sandbox up` has written its state / Then present
    const paths = sandboxPaths(stateDir);
    mkdirSync(path.dirname(paths.state), { recursive: true });
    writeFileSync(paths.state, '{}');
    expect(sandboxOperator.present(stateDir)).toBe(true);
  });
});
