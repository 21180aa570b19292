/**
 * A broker as `byoc broker serve` runs it: opened through the real wiring (openBroker: the locked CA on disk, this
 * process as the lock's owner) on a fresh state folder, served on a loopback port. Tests talk to it over raw HTTP
 * and check what it signs with openssl, from outside byoc.
 */
import { spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { AccessBroker } from '../../../src/access/broker.js';
import { openBroker } from '../../../src/access/open.js';
import { createBrokerServer, listen } from '../../../src/access/server.js';
import { FakeClock, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';

export const ALICE = 'alice@vendor.example';
export const BOB = 'bob@vendor.example';

/** Time that can be moved, but waits that really wait: processes contending for the store lock need real time. */
export class MovableClock extends FakeClock {
  override sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); })));
});

/** The broker of one "process" on a state folder, through the same openBroker as the CLI. */
export async function openRealBroker(stateDir: string, clock = new MovableClock(new Date())): Promise<{ broker: AccessBroker; stderr: () => string }> {
  const cwd = tempDir({ 'byoc.config.yaml': `policy: { approvers: [${BOB}] }\nservices: { acme-prod: {} }\n` });
  const { ctx, stderr } = testContext({ cwd, env: { BYOC_STATE_DIR: stateDir }, clock });
  return { broker: await openBroker(ctx, await ctx.config()), stderr: () => stderr.text };
}

export async function serveRealBroker() {
  const stateDir = tempDir();
  const clock = new MovableClock(new Date());
  const { broker } = await openRealBroker(stateDir, clock);
  const server = createBrokerServer(broker);
  servers.push(server);
  const { port } = await listen(server, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;
  const tokens = { alice: await broker.createToken(ALICE), bob: await broker.createToken(BOB) };
  const raw = (route: string, init: RequestInit & { token?: string; accept?: string } = {}) =>
    fetch(`${url}${route}`, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.accept ? { accept: init.accept } : {}),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
    });
  /** A request by alice that bob approved. */
  const approved = async (duration = '1h') => {
    const created = await broker.create(ALICE, { service: 'acme-prod', reason: 'merges stuck', duration });
    await broker.approve(BOB, created.id);
    return created.id;
  };
  const caFile = path.join(stateDir, 'broker', 'ca', 'ca.crt');
  return { url, stateDir, broker, clock, tokens, raw, approved, caFile };
}

/** Runs openssl; returns stdout then stderr (openssl prints its verdicts on either), whatever its exit code. */
export function openssl(args: string[], input?: string): string {
  const result = spawnSync('openssl', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  if (result.error) throw result.error;
  return `${result.stdout}${result.stderr}`;
}
