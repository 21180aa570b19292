import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createBrokerServer, listen } from '../../../src/access/server.js';
import { startConnectProxy, type FakeConnectProxy } from '../../fakes/connect-proxy.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';
import { startSocks5Server, type FakeSocks5Server } from '../../fakes/socks5-server.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function servedBroker() {
  const { broker } = await openTestBroker(tempDir(), new FakeClock());
  const server: Server = createBrokerServer(broker);
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  const { port } = await listen(server, '127.0.0.1', 0);
  return { port, token: await broker.createToken('alice@vendor.example') };
}

describe('remote calls go through the network layer', () => {
  it('reaches the broker by its tailnet name through an HTTP CONNECT proxy (network.proxy)', async () => {
    // Given a broker known only by a tailnet name that the proxy (like tailscaled) resolves
    const { port, token } = await servedBroker();
    const proxy: FakeConnectProxy = await startConnectProxy({ 'broker.tailnet.example': '127.0.0.1' });
    cleanups.push(() => proxy.close());
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: "http://broker.tailnet.example:${port}" }\nnetwork: { proxy: "${proxy.url}" }\n` });
    // When the CLI lists requests
    const result = await runCli(['access', 'list', '--json'], { cwd, env: { BYOC_TOKEN: token } });
    // Then it worked, and the proxy saw the unresolved name
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ requests: [] });
    expect(proxy.targets).toContain(`broker.tailnet.example:${port}`);
  });

  it('sends the name unresolved to a socks5h proxy (tailscaled resolves tailnet names itself)', async () => {
    const { port, token } = await servedBroker();
    const socks: FakeSocks5Server = await startSocks5Server({ 'broker.tailnet.example': '127.0.0.1' });
    cleanups.push(() => socks.close());
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: "http://broker.tailnet.example:${port}" }\nnetwork: { proxy: "socks5h://127.0.0.1:${socks.port}" }\n` });
    const result = await runCli(['access', 'list', '--json'], { cwd, env: { BYOC_TOKEN: token } });
    expect(result.exitCode).toBe(0);
    expect(socks.targets.map((target) => target.host)).toContain('broker.tailnet.example');
  });

  it('uses a resolve override when there is no proxy', async () => {
    const { port, token } = await servedBroker();
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: "http://broker.tailnet.example:${port}" }\nnetwork: { resolve: { broker.tailnet.example: 127.0.0.1 } }\n` });
    const result = await runCli(['access', 'list', '--json'], { cwd, env: { BYOC_TOKEN: token } });
    expect(result.exitCode).toBe(0);
  });

  it('reports an unreachable broker as a remote failure (exit 5) with a next step', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': 'broker: { url: "http://127.0.0.1:1" }\n' });
    const result = await runCli(['access', 'list'], { cwd, env: { BYOC_TOKEN: 'x' } });
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('byoc doctor');
  });
});
