/**
 * A webhook receiver on loopback: records what byoc posts (headers and the exact body bytes) and answers with the
 * status the test chooses. Signatures are checked here with node:crypto alone, from outside byoc's code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { FakeClock } from '../../fakes/context.js';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const open = new Set<Server>();
afterEach(async () => {
  await Promise.all([...open].map((server) => close(server)));
});

function close(server: Server): Promise<void> {
  open.delete(server);
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A receiver on 127.0.0.1 (port 0: any free one, or a given one to come back up on). */
export async function startReceiver(options: { port?: number; status?: (received: Received) => number } = {}) {
  const received: Received[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      res.statusCode = options.status?.(entry) ?? 204;
      res.end(res.statusCode >= 400 ? 'receiver error' : '');
      for (const waiter of waiters.filter((w) => received.length >= w.count)) waiter.resolve();
    });
  });
  open.add(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    /** resolves once `count` deliveries have arrived */
    until: (count: number) => (received.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    close: () => close(server),
  };
}

/** A port that nothing listens on (yet): taken from the kernel, then let go. */
export async function freePort(): Promise<number> {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.port;
}

/**
 * The documented scheme, checked independently: X-Byoc-Signature is `sha256=` + hex HMAC-SHA256 with the shared
 * secret over `<X-Byoc-Timestamp>.<raw body>`.
 */
export function signatureValid(entry: Received, secret: string): boolean {
  const timestamp = entry.headers['x-byoc-timestamp'];
  const header = entry.headers['x-byoc-signature'];
  if (typeof timestamp !== 'string' || typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${entry.body}`).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Time that moves only when told, and sleeps that wait until the test lets them go: a retry happens when the
 * test says, never after a real wait.
 */
export class GatedClock extends FakeClock {
  private readonly sleeping: { ms: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private readonly watchers: (() => void)[] = [];
  override sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted();
      const entry = { ms, resolve, reject };
      signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      this.sleeping.push(entry);
      for (const watcher of this.watchers.splice(0)) watcher();
    });
  /** Waits for the next sleep to begin; returns its length. */
  async nextSleep(): Promise<number> {
    while (this.sleeping.length === 0) await new Promise<void>((resolve) => this.watchers.push(resolve));
    return this.sleeping[0]!.ms;
  }
  /** Ends the oldest sleep, moving time by its length. */
  wake(): void {
    const entry = this.sleeping.shift();
    if (!entry) throw new Error('nothing sleeps');
    this.advance(entry.ms);
    entry.resolve();
  }
  get sleepers(): number {
    return this.sleeping.length;
  }
}
