import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { HttpBrokerClient } from '../../../src/access/http-client.js';
import { openBroker } from '../../../src/access/open.js';
import { main } from '../../../src/main.js';
import { FakeClock, testBase, testContext } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { signatureValid, startReceiver } from './receiver.js';

const ALICE = 'alice@vendor.example';
const BOB = 'bob@vendor.example';
const SECRET = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';

/** Time that rushes: each sleep really waits 10 ms and moves the clock by all it asked for (30 s per sweep). */
class RushingClock extends FakeClock {
  override sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      const timer = setTimeout(() => {
        this.advance(ms);
        resolve();
      }, 10);
      signal?.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))), { once: true });
    });
}

describe('byoc broker serve with notifications', () => {
  it('notifies decisions made through its API, then expiring-soon and lapsed from its timer, and stops cleanly', async () => {
    // Given a configuration with a webhook target, tokens for alice and bob, and time that rushes
    const receiver = await startReceiver();
    const cwd = tempDir({
      'byoc.config.yaml': `policy: { approvers: [${BOB}], pendingTtl: 4h }\nservices: { acme-prod: {} }\nnotify:\n  targets:\n    hook: { kind: webhook, url: "${receiver.url}/hook", secretEnv: HOOK_SECRET }\n  default: [hook]\n`,
    });
    const env = { BYOC_STATE_DIR: tempDir(), HOOK_SECRET: SECRET };
    const clock = new RushingClock(new Date());
    const setup = testContext({ cwd, env, clock });
    const embedded = await openBroker(setup.ctx, await setup.ctx.config());
    const tokens = { alice: await embedded.createToken(ALICE), bob: await embedded.createToken(BOB) };
    await embedded.close();
    // When `byoc broker serve` runs
    const stop = new AbortController();
    const harness = testBase({ cwd, env, clock, signal: stop.signal });
    const serving = main(['broker', 'serve', '--listen', '127.0.0.1:0'], harness.base);
    let url = '';
    await vi.waitFor(() => {
      url = /listening on (http:\/\/\S+)/.exec(harness.stderr.text)?.[1] ?? '';
      expect(url).not.toBe('');
    }, { timeout: 15_000 });
    // And alice asks for an hour through its API, and bob approves
    const alice = new HttpBrokerClient({ url, token: tokens.alice });
    const bob = new HttpBrokerClient({ url, token: tokens.bob });
    const created = await alice.create({ service: 'acme-prod', reason: 'incident', duration: '1h' });
    await receiver.until(1);
    await bob.approve(created.id);
    // Then the receiver hears of both decisions, and, as its timer runs through the hour, of the end coming and the end
    await receiver.until(4);
    const bodies = receiver.received.map((entry) => JSON.parse(entry.body) as { event: string; lapse?: string; request: { id: string } });
    expect(bodies.map((body) => `${body.event}${body.lapse ? `:${body.lapse}` : ''}`)).toEqual(['created', 'approved', 'expiring-soon', 'lapsed:ended']);
    expect(bodies.every((body) => body.request.id === created.id)).toBe(true);
    for (const entry of receiver.received) expect(signatureValid(entry, SECRET)).toBe(true);
    // When it is stopped / Then it exits 0, having remembered what its timer sent
    stop.abort();
    expect(await serving).toBe(0);
    expect(existsSync(path.join(env.BYOC_STATE_DIR, 'notify', 'sent.json'))).toBe(true);
    expect(receiver.received).toHaveLength(4);
  });
});
