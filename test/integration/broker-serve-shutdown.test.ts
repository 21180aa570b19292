import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServedBroker } from './broker-serve-served.js';

const CLIENTS = 8;
const MAX_REQUESTS = 300;
const MAX_MS = 5_000;

/** Opens a request whose body never finishes: the broker's handler waits for it, so it stays in flight. */
async function hangingRequest(url: string, token: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.write(`POST /v1/requests HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"service":`);
  // The headers must have reached the handler before the signal does (a signal overtakes loopback bytes).
  await new Promise((resolve) => setTimeout(resolve, 500));
  return socket;
}

describe('byoc broker serve: graceful shutdown', () => {
  it('the first SIGTERM under load stops it with exit 0, and every acknowledged request is on disk, no torn line', async () => {
    // Given a served broker and 8 clients creating requests as fast as it answers (bounded: 300 requests or 5 s)
    const { served, url, token, events, stateDir } = await startServedBroker();
    const acknowledged: string[] = [];
    let sent = 0;
    const started = Date.now();
    let signalled = false;
    const client = async () => {
      while (sent < MAX_REQUESTS && Date.now() - started < MAX_MS) {
        sent++;
        // When a third of the requests were answered, the broker gets SIGTERM (once), while the others are in flight
        if (!signalled && acknowledged.length >= MAX_REQUESTS / 3) {
          signalled = true;
          served.child.kill('SIGTERM');
        }
        try {
          const response = await fetch(`${url}/v1/requests`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ service: 'acme-prod', reason: `load ${sent}`, duration: '1h' }),
          });
          const body = (await response.json()) as { id: string };
          if (response.ok) acknowledged.push(body.id);
        } catch {
          // refused or cut: not acknowledged, so nothing is promised about it
          if (signalled) return;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    if (!signalled) served.child.kill('SIGTERM');
    const exit = await served.exited;

    // Then the process stopped by itself on that one signal, with exit 0 and a line on stderr saying so
    expect(exit.signal).toBeNull();
    expect(exit.exitCode).toBe(0);
    expect(exit.stderr).toContain('byoc broker stopped');
    expect(exit.stdout).toContain(`broker on ${url} stopped`);
    expect(acknowledged.length).toBeGreaterThanOrEqual(MAX_REQUESTS / 3);
    // And the event log is whole lines of JSON, each request it acknowledged among them
    const log = events();
    expect(log.endsWith('\n')).toBe(true);
    const created = new Set(
      log
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; request?: { id: string }; id?: string })
        .flatMap((event) => [event.request?.id, event.id].filter((id): id is string => typeof id === 'string')),
    );
    const missing = acknowledged.filter((id) => !created.has(id));
    expect(missing).toEqual([]);
    // And the store was given back: no serving marker left for embedded commands to trip on
    expect(existsSync(path.join(stateDir, 'broker', 'serving.json'))).toBe(false);
  });

  it('a request still in flight is waited for; a second signal during that wait ends it at once (130)', async () => {
    // Given a served broker with a request whose body has not arrived yet
    const { served, url, token, stderr } = await startServedBroker();
    const socket = await hangingRequest(url, token);
    try {
      // When it gets SIGTERM, it waits for that request (and says so) instead of stopping
      served.child.kill('SIGTERM');
      await expect.poll(stderr, { timeout: 5_000 }).toContain('finishing 1 request(s) in flight (at most 10 s)');
      expect(served.child.exitCode).toBeNull();
      // And a second signal stops it at once, as interrupted
      const before = Date.now();
      served.child.kill('SIGTERM');
      const exit = await served.exited;
      expect(exit.exitCode).toBe(130);
      expect(exit.stderr).toContain('stopping at once (second signal)');
      expect(Date.now() - before).toBeLessThan(5_000);
    } finally {
      socket.destroy();
    }
  });

  it('a request that does not finish within 10 s is cut off, and the broker still stops with exit 0', { timeout: 40_000 }, async () => {
    // Given a served broker with a request whose body never arrives
    const { served, url, token, stderr } = await startServedBroker();
    const socket = await hangingRequest(url, token);
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    try {
      // When it gets one SIGTERM
      const signalled = Date.now();
      served.child.kill('SIGTERM');
      await expect.poll(stderr, { timeout: 5_000 }).toContain('finishing 1 request(s) in flight (at most 10 s)');
      // Then it waits the 10 s out, closes that connection, and stops cleanly, saying what it cut
      const exit = await served.exited;
      const elapsed = Date.now() - signalled;
      expect(exit.exitCode).toBe(0);
      expect(exit.stderr).toContain('byoc broker stopped: 1 request(s) still running after 10 s were cut off');
      expect(elapsed).toBeGreaterThanOrEqual(9_500);
      expect(elapsed).toBeLessThan(20_000);
      expect((await closed) - signalled).toBeGreaterThanOrEqual(9_500);
    } finally {
      socket.destroy();
    }
  });
});
