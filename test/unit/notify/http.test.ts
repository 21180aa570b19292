import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { post } from '../../../src/notify/http.js';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function answering(status: number, headers: Record<string, string>): Promise<URL> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(status, headers).end('slow down'));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
}

describe('posting a notification', () => {
  it('Given a receiver answering 429 with Retry-After in seconds, When posted, Then the attempt is retried no sooner than asked', async () => {
    const url = await answering(429, { 'retry-after': '7' });
    expect(await post(url, {}, '{}', { timeoutMs: 5000, signal: new AbortController().signal })).toEqual({ ok: false, retry: true, problem: 'HTTP 429 slow down', retryAfterMs: 7000 });
  });

  it('Given a Retry-After as an HTTP date, When posted, Then the backoff decides (no delay from it)', async () => {
    const url = await answering(503, { 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' });
    const result = await post(url, {}, '{}', { timeoutMs: 5000, signal: new AbortController().signal });
    expect(result).toEqual({ ok: false, retry: true, problem: 'HTTP 503 slow down' });
  });
});
