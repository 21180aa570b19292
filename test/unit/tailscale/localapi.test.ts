import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePingOutput, parseStatusJson } from '../../../src/tailscale/parse.js';
import { createLocalApiRunner, pongLine, type PingResult } from '../../../src/tailscale/localapi.js';
import { TailscaleTimeoutError } from '../../../src/tailscale/runner.js';
import { runCli } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { startFakeLocalApi, type FakeLocalApi } from '../../fakes/tailscale/localapi-server.js';
import { fakeTailscaleEnv, tailscaleFixture, writeScenario } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const PING_DIRECT = tailscaleFixture('localapi-ping-direct.json');
const PING_DERP = tailscaleFixture('localapi-ping-derp.json');
const PING_ARGS = ['ping', '-c', '2', '--timeout', '1s', '100.101.23.45'];

let servers: FakeLocalApi[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});
async function localApi(routes: Parameters<typeof startFakeLocalApi>[0]) {
  const server = await startFakeLocalApi(routes);
  servers.push(server);
  return server;
}
/** A CLI that must not be asked: the ScriptedRunner throws on anything unscripted. */
const noCli = () => new ScriptedRunner([]);

describe('the LocalAPI source', () => {
  it('reads the status from GET /localapi/v0/status with the Host tailscaled requires, and parses it as the CLI’s', async () => {
    // Given a daemon whose LocalAPI serves the recorded status
    const api = await localApi({ 'GET /localapi/v0/status': { body: tailscaleFixture('status-direct.json') } });
    const cli = noCli();
    // When byoc reads the status
    const result = await createLocalApiRunner({ socket: api.socket, cli }).run(['status', '--json']);
    // Then the document is the same one `tailscale status --json` prints, parsed to the same structure, and the CLI never ran
    expect(parseStatusJson(result.stdout)).toEqual(parseStatusJson(tailscaleFixture('status-direct.json')));
    expect(result.exitCode).toBe(0);
    expect(cli.calls).toEqual([]);
    expect(api.calls).toEqual([{ method: 'GET', url: '/localapi/v0/status', host: 'local-tailscaled.sock', secTailscale: 'localapi' }]);
  });

  it('pings with POST /localapi/v0/ping?ip=…&type=disco and stops at the first direct pong, as the CLI does', async () => {
    const api = await localApi({ 'POST /localapi/v0/ping': { body: PING_DIRECT } });
    const result = await createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(PING_ARGS);
    // Then the parsed pongs equal those of the CLI's recorded output for the same probe
    expect(parsePingOutput(result)).toEqual(parsePingOutput({ stdout: tailscaleFixture('ping-direct.txt'), stderr: '', exitCode: 0 }));
    expect(api.calls).toHaveLength(1);
    const url = new URL(api.calls[0]!.url, 'http://local-tailscaled.sock');
    expect([api.calls[0]!.method, url.pathname, url.searchParams.get('ip'), url.searchParams.get('type')]).toEqual(['POST', '/localapi/v0/ping', '100.101.23.45', 'disco']);
  });

  it('reports DERP pongs with their region code and, after every attempt, "direct connection not established"', async () => {
    const api = await localApi({ 'POST /localapi/v0/ping': { body: PING_DERP } });
    const result = await createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(PING_ARGS);
    const parsed = parsePingOutput(result);
    expect(parsed.pongs.map((pong) => [pong.via, pong.latencyMs, pong.nodeName])).toEqual([
      [{ kind: 'derp', region: 'nyc' }, 34, 'ch'],
      [{ kind: 'derp', region: 'nyc' }, 34, 'ch'],
    ]);
    expect(parsed).toMatchObject({ directNotEstablished: true, error: null, exitCode: 1 });
  });

  it('turns the PingResult Err into the CLI’s error (no matching peer), and a peer relay into its via form', async () => {
    const api = await localApi({
      'POST /localapi/v0/ping': [
        { body: JSON.stringify({ IP: '100.101.23.45', Err: 'no matching peer', LatencySeconds: 0 }) },
      ],
    });
    const parsed = parsePingOutput(await createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(PING_ARGS));
    expect(parsed.error).toEqual({ kind: 'no-matching-peer', message: 'no matching peer' });
    const relay: PingResult = { NodeName: 'ch', NodeIP: '100.101.23.45', LatencySeconds: 1.0234, PeerRelay: '192.168.1.215:7777:vni:1', DERPRegionID: 0 };
    expect(pongLine(relay)).toBe('pong from ch (100.101.23.45) via peer-relay(192.168.1.215:7777:vni:1) in 1.023s');
  });

  it('reports the daemon’s own error (500 {"error"}) and a body that is not a PingResult as a failed ping, never a pong', async () => {
    const api = await localApi({ 'POST /localapi/v0/ping': [{ status: 500, body: '{"error":"unknown peer"}' }, { body: '<html>proxy</html>' }] });
    const runner = createLocalApiRunner({ socket: api.socket, cli: noCli() });
    expect(parsePingOutput(await runner.run(PING_ARGS))).toMatchObject({ pongs: [], error: { kind: 'unknown-peer', message: 'unknown peer' }, exitCode: 1 });
    expect(parsePingOutput(await runner.run(PING_ARGS))).toMatchObject({ pongs: [], error: { kind: 'other', message: expect.stringContaining('not a PingResult') as unknown }, exitCode: 1 });
  });

  it('counts an unanswered ping as timed out per attempt, then "no reply" (the daemon has no deadline of its own)', async () => {
    const api = await localApi({ 'POST /localapi/v0/ping': 'hang' });
    const started = Date.now();
    const result = await createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(['ping', '-c', '2', '--timeout', '150ms', '100.101.23.45']);
    expect(parsePingOutput(result)).toMatchObject({ pongs: [], timeouts: 2, noReply: true });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives up with the runner’s timeout error when the whole ping outlives its deadline, keeping the pongs seen', async () => {
    const api = await localApi({ 'POST /localapi/v0/ping': [{ body: PING_DERP }, 'hang'] });
    const run = createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(['ping', '-c', '3', '--timeout', '5s', '100.101.23.45'], { timeoutMs: 1500 });
    const error = await run.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TailscaleTimeoutError);
    expect((error as TailscaleTimeoutError).partial.stdout).toContain('via DERP(nyc)');
  });

  it.each([
    ['no socket at the path', async () => path.join(tempDir(), 'absent.sock')],
    ['a plain file where the socket should be', async () => { const file = path.join(tempDir(), 'stale.sock'); writeFileSync(file, ''); return file; }],
    ['a daemon refusing the request (403)', async () => (await localApi({ 'GET /localapi/v0/status': { status: 403, body: '{"error":"access denied"}' } })).socket],
  ])('falls back to the CLI when there is %s, and stays with it for the rest of the run', async (_case, socketOf) => {
    // Given an unusable socket and a CLI that answers
    const cli = new ScriptedRunner([
      { match: /^status --json$/, stdout: tailscaleFixture('status-direct.json') },
      { match: /^ping /, stdout: tailscaleFixture('ping-direct.txt') },
    ]);
    const runner = createLocalApiRunner({ socket: await socketOf(), cli });
    // When status and ping run
    const status = await runner.run(['status', '--json']);
    await runner.run(PING_ARGS);
    // Then both came from the CLI
    expect(parseStatusJson(status.stdout).backendState).toBe('Running');
    expect(cli.calls.map((call) => call.args[0])).toEqual(['status', 'ping']);
  });

  it('reads the DERP map from GET /localapi/v0/derpmap for `debug derp-map` (custom regions included)', async () => {
    // Given a daemon whose DERP map has a region of Tailscale's (27, iad) and a self-hosted one (900)
    const derpMap = { Regions: { '27': { RegionID: 27, RegionCode: 'iad', RegionName: 'Ashburn' }, '900': { RegionID: 900, RegionCode: 'myderp', RegionName: 'Self-hosted' } } };
    const api = await localApi({ 'GET /localapi/v0/derpmap': { body: JSON.stringify(derpMap) } });
    // When byoc asks for it as the CLI would print it
    const result = await createLocalApiRunner({ socket: api.socket, cli: noCli() }).run(['debug', 'derp-map']);
    // Then the document is the daemon's
    expect(JSON.parse(result.stdout)).toEqual(derpMap);
    expect(api.calls.map((call) => `${call.method} ${call.url}`)).toEqual(['GET /localapi/v0/derpmap']);
  });

  it('leaves netcheck and pings by name to the CLI', async () => {
    const api = await localApi({});
    const cli = new ScriptedRunner([{ match: /^netcheck|^ping /, stdout: '{}' }]);
    const runner = createLocalApiRunner({ socket: api.socket, cli });
    await runner.run(['netcheck', '--format=json']);
    await runner.run(['ping', '-c', '1', '--timeout', '1s', 'ch.example.ts.net']);
    expect(cli.calls.map((call) => call.args[0])).toEqual(['netcheck', 'ping']);
    expect(api.calls).toEqual([]);
  });
});

describe('byoc connect check with tailscale.socket', () => {
  it('takes status, ping and the DERP map from the LocalAPI and only netcheck from the CLI', async () => {
    // Given a LocalAPI on a unix socket (BYOC_TAILSCALE_SOCKET) and a fake `tailscale` that logs its calls
    const derpMap = { Regions: { '1': { RegionID: 1, RegionCode: 'nyc', RegionName: 'New York City' } } };
    const api = await localApi({
      'GET /localapi/v0/status': { body: tailscaleFixture('status-direct.json') },
      'POST /localapi/v0/ping': { body: PING_DIRECT },
      'GET /localapi/v0/derpmap': { body: JSON.stringify(derpMap) },
    });
    const dir = tempDir();
    const log = path.join(dir, 'calls.log');
    writeFileSync(log, '');
    const scenario = writeScenario(dir, { commands: [{ match: '^netcheck --format=json$', stdoutFile: 'netcheck-good.json' }] });
    writeFileSync(path.join(dir, 'byoc.config.yaml'), 'services:\n  acme:\n    clickhouse: { url: "http://100.101.23.45:8123" }\n');
    // When the path check runs
    const result = await runCli(['connect', 'check', 'acme', '--json', '--count', '1', '--timeout', '300ms'], {
      cwd: dir,
      env: fakeTailscaleEnv(scenario, { BYOC_TAILSCALE_SOCKET: api.socket, FAKE_TAILSCALE_LOG: log }),
    });
    // Then the path is direct, read from the LocalAPI (status, ping and the DERP map), and the CLI ran netcheck alone
    expect(JSON.parse(result.stdout)).toMatchObject({ verdict: 'direct', targets: [{ path: 'direct', endpoint: '198.51.100.31:41641' }] });
    expect(api.calls.map((call) => `${call.method} ${call.url.split('?')[0]}`).sort()).toEqual(['GET /localapi/v0/derpmap', 'GET /localapi/v0/status', 'POST /localapi/v0/ping']);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(log, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { argv: string[] }).argv[0])).toEqual(['netcheck']);
  });
});
