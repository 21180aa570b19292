import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../../src/main.js';
import { FakeClock, runCli, testBase } from '../../../fakes/context.js';
import { tempDir } from '../../../fakes/fs.js';
import { abortReason } from '../../../../src/errors.js';

const holders: net.Server[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

/** A loopback port another process (here: another server) already listens on. */
async function occupiedPort(): Promise<number> {
  const server = net.createServer();
  holders.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A FakeClock that records its sleeps, so a test can tell whether the sweep loop ran. */
class CountingClock extends FakeClock {
  sleeps = 0;
  constructor() {
    super();
    const inner = this.sleep;
    this.sleep = async (ms: number, signal?: AbortSignal) => {
      this.sleeps++;
      await inner(ms, signal);
    };
  }
}

const setupFor = (clock: FakeClock) => ({ cwd: tempDir(), clock, env: { BYOC_STATE_DIR: tempDir() } });

describe('byoc broker serve: bind errors', () => {
  it('a busy port exits 5 naming the port and what to do, and the sweep loop never starts', async () => {
    // Given another server on a loopback port
    const port = await occupiedPort();
    const clock = new CountingClock();
    // When the broker is asked to listen there
    const result = await runCli(['broker', 'serve', '--listen', `127.0.0.1:${port}`], setupFor(clock));
    // Then it exits 5 (not "a bug in byoc", exit 1), saying which port and what to do
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: port ${port} is already in use`);
    expect(result.stderr).toContain(`ss -ltnp 'sport = :${port}'`);
    expect(result.stderr).toContain(`--listen 127.0.0.1:${port + 1}`);
    expect(result.stderr).not.toContain('bug');
    // And nothing slept: the loop is only entered once the server listens
    expect(clock.sleeps).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('the same refusal is one JSON error document under --json', async () => {
    const port = await occupiedPort();
    const result = await runCli(['broker', 'serve', '--listen', `127.0.0.1:${port}`, '--json'], setupFor(new FakeClock()));
    expect(result.exitCode).toBe(5);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: 'listen_address_in_use', hint: expect.stringContaining(`port ${port}`) });
  });

  it.each([
    ['127.0.0.1', 'listen address "127.0.0.1": it has no port', '--listen 127.0.0.1:8787'],
    ['::1:8787', 'listen address "::1:8787": an IPv6 address goes in brackets', '--listen [::1]:8787'],
    ['127.0.0.1:70000', 'listen address "127.0.0.1:70000": the port 70000 is above 65535', '--listen 127.0.0.1:8787'],
  ])('a malformed address %j exits 2 before anything is opened', async (listen, message, example) => {
    const clock = new CountingClock();
    const result = await runCli(['broker', 'serve', '--listen', listen], setupFor(clock));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`error: ${message}`);
    expect(result.stderr).toContain(example);
    expect(clock.sleeps).toBe(0);
  });

  it('an address this machine does not have exits 2, pointing at one it has', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a real interface
    const result = await runCli(['broker', 'serve', '--listen', '192.0.2.1:8787', '--insecure-http'], setupFor(new FakeClock()));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('error: cannot listen on 192.0.2.1:8787: no interface of this machine has the address 192.0.2.1');
    expect(result.stderr).toContain('--listen 127.0.0.1:8787');
  });

  it('an unreadable --tls-cert exits 2 naming the file', async () => {
    const cwd = tempDir();
    const result = await runCli(['broker', 'serve', '--tls-cert', 'missing.crt', '--tls-key', 'missing.key'], { ...setupFor(new FakeClock()), cwd });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`error: --tls-cert missing.crt: cannot read ${cwd}/missing.crt (ENOENT)`);
  });

  it('files that are not a PEM certificate and key exit 2 naming both', async () => {
    const cwd = tempDir({ 'broker.crt': 'not a certificate', 'broker.key': 'not a key' });
    const result = await runCli(['broker', 'serve', '--listen', '127.0.0.1:0', '--tls-cert', 'broker.crt', '--tls-key', 'broker.key'], { ...setupFor(new FakeClock()), cwd });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('error: --tls-cert broker.crt and --tls-key broker.key cannot serve HTTPS:');
  });

  it('plain HTTP on an address other than loopback is refused (exit 2) before anything is opened', async () => {
    // Given no certificate and an address every interface answers on
    const clock = new CountingClock();
    const setup = setupFor(clock);
    // When the broker is asked to serve there
    const result = await runCli(['broker', 'serve', '--listen', '0.0.0.0:0'], setup);
    // Then it refuses, saying why and the ways out (TLS, loopback, or the explicit flag)
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('error: refusing to serve plain HTTP on 0.0.0.0: bearer tokens would cross the network in clear');
    expect(result.stderr).toContain('--tls-cert broker.crt --tls-key broker.key');
    expect(result.stderr).toContain('--insecure-http');
    // And nothing was opened: no broker store, no sweep
    expect(existsSync(path.join(setup.env.BYOC_STATE_DIR, 'broker'))).toBe(false);
    expect(clock.sleeps).toBe(0);
    // And --json carries the same refusal as a document
    const json = await runCli(['broker', 'serve', '--listen', '0.0.0.0:0', '--json'], setupFor(new FakeClock()));
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'plain_http_refused', hint: expect.stringContaining('--insecure-http') });
  });

  it('--insecure-http serves plain HTTP on every interface, with a warning', async () => {
    // Given the explicit flag
    const controller = new AbortController();
    const clock = new FakeClock();
    clock.sleep = (ms, signal) =>
      signal
        ? new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true }))
        : new Promise<void>((resolve) => setTimeout(resolve, ms));
    const harness = testBase({ cwd: tempDir(), clock, env: { BYOC_STATE_DIR: tempDir() }, signal: controller.signal });
    // When the broker serves on 0.0.0.0
    const exit = main(['broker', 'serve', '--listen', '0.0.0.0:0', '--insecure-http'], harness.base);
    let port: string | undefined;
    for (let attempt = 0; attempt < 200 && !port; attempt++) {
      port = /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(harness.stderr.text)?.[1];
      if (!port) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Then it answers, and stderr warned that tokens cross the network in clear
    expect(port).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${port}/v1/health`)).status).toBe(200);
    expect(harness.stderr.text).toContain('warning: --insecure-http: serving plain HTTP on 0.0.0.0: bearer tokens cross the network in clear');
    controller.abort();
    expect(await exit).toBe(0);
  });

  it('a free port serves until interrupted, sweeping on the clock, then says it stopped', async () => {
    // Given a clock whose sweep sleep waits for Ctrl-C (a FakeClock would advance at once and spin), and whose
    // short waits without a signal (the drain polling for requests in flight) really wait
    const controller = new AbortController();
    const clock = new FakeClock();
    let sleeps = 0;
    clock.sleep = (ms, signal) => {
      if (!signal) return new Promise<void>((resolve) => setTimeout(resolve, ms));
      sleeps++;
      return new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true }));
    };
    const harness = testBase({ cwd: tempDir(), clock, env: { BYOC_STATE_DIR: tempDir() }, signal: controller.signal });
    // When the broker serves on a port the system picks
    const exit = main(['broker', 'serve', '--listen', '127.0.0.1:0'], harness.base);
    let url: string | undefined;
    for (let attempt = 0; attempt < 200 && !url; attempt++) {
      url = /listening on (http:\/\/\S+)/.exec(harness.stderr.text)?.[1];
      if (!url) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Then it answers, and the loop waits on the clock
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect(sleeps).toBe(1);
    // And Ctrl-C stops it cleanly
    controller.abort();
    expect(await exit).toBe(0);
    expect(harness.stdout.text).toBe(`broker on ${url} stopped\n`);
  });
});
