import { describe, expect, it } from 'vitest';
import { checkTailscalePaths } from '../../../src/tailscale/check.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';
const DERP_PONGS = 'pong from ch (100.101.23.45) via DERP(nyc) in 31ms\n'.repeat(3);
const DERP_MAP = JSON.stringify({
  Regions: {
    '1': { RegionID: 1, RegionCode: 'nyc', RegionName: 'New York City' },
    '900': { RegionID: 900, RegionCode: 'relayla', RegionName: 'self-hosted LA' },
  },
});

type Json = Record<string, unknown>;

/** status-derp.json with edits (Health, an exit node in use). */
function status(edit: (status: Json, peers: Record<string, Json>) => void): string {
  const parsed = JSON.parse(tailscaleFixture('status-derp.json')) as Json;
  edit(parsed, parsed.Peer as Record<string, Json>);
  return JSON.stringify(parsed, null, 2);
}

const check = async (statusJson: string, netcheckFile: string, pongs = DERP_PONGS) => {
  const runner = new ScriptedRunner([
    { match: /^status --json$/, stdout: statusJson },
    { match: /^netcheck --format=json$/, stdout: tailscaleFixture(netcheckFile) },
    { match: /^debug derp-map$/, stdout: DERP_MAP },
    { match: /^ping .* 100\.101\.23\.45$/, stdout: pongs, stderr: 'direct connection not established\n', exitCode: 1 },
  ]);
  const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
  return { result, advice: result.targets[0]?.advice.join('\n') ?? '' };
};

describe('advice from context', () => {
  it('surfaces a Health warning, naming the home DERP region from the map (headscale#813, tailscale#12517 wording)', async () => {
    // Given tailscaled warning it is not connected to its self-hosted home region 900
    const { advice } = await check(status((s) => void (s.Health = ['not connected to home DERP region 900'])), 'netcheck-good.json');
    // Then the warning is quoted, the region named by its code, and the self-hosted DERP pointed at
    expect(advice).toContain('Tailscale reports: “not connected to home DERP region 900”.');
    expect(advice).toContain('home DERP region relayla (#900)');
    expect(advice).toContain('self-hosted DERP (headscale or derper)');
  });

  it('reads the newer relay-server wording of the same warning (ip-derper README)', async () => {
    // Given the newer wording naming a self-hosted region by its code
    const warning = "Tailscale could not connect to the 'relayla' relay server. Your Internet connection might be down, or the server might be temporarily unavailable.";
    const { advice } = await check(status((s) => void (s.Health = [warning])), 'netcheck-good.json');
    // Then the region is found in the map by its code, and the self-hosted DERP pointed at
    expect(advice).toContain('home DERP region relayla (#900)');
    expect(advice).toContain('self-hosted DERP (headscale or derper)');
  });

  it('quotes any other Health warning as it is', async () => {
    // Given an unfamiliar warning
    const { advice } = await check(status((s) => void (s.Health = ['Tailscale could not connect to the coordination server'])), 'netcheck-good.json');
    // Then it is passed on verbatim
    expect(advice).toContain('Tailscale reports: “Tailscale could not connect to the coordination server”.');
  });

  it('explains netcheck’s UDP false by the exit node in use instead of blaming this network', async () => {
    // Given an exit node in use (ExitNodeStatus and the peer's ExitNode) and netcheck showing UDP false
    const withExit = status((s, peers) => {
      const exit = Object.values(peers).find((peer) => peer.HostName === 'k8s')!;
      exit.ExitNode = true;
      s.ExitNodeStatus = { ID: exit.ID, Online: true, TailscaleIPs: ['100.88.12.34/32'] };
    });
    const { advice } = await check(withExit, 'netcheck-udp-blocked.json');
    // Then the exit node is named as the reason, and UDP is not called blocked here
    expect(advice).toContain('Exit node k8s is in use, so netcheck’s probes went through it');
    expect(advice).toContain('tailscale set --exit-node=');
    expect(advice).not.toContain('UDP is blocked on this network');
  });

  it('recognises the exit node from ExitNodeStatus alone (its peer entry absent, as with --peers=false)', async () => {
    // Given ExitNodeStatus set while no listed peer carries ExitNode
    const withExit = status((s) => void (s.ExitNodeStatus = { ID: 'nExitNodeCNTRL', Online: true, TailscaleIPs: ['100.70.3.3/32'] }));
    const { advice } = await check(withExit, 'netcheck-udp-blocked.json');
    // Then it is named by its address and still explains UDP false
    expect(advice).toContain('Exit node 100.70.3.3 is in use');
    expect(advice).not.toContain('UDP is blocked on this network');
  });

  it('still says UDP is blocked when no exit node is in use', async () => {
    // Given the same netcheck without an exit node
    const { advice } = await check(tailscaleFixture('status-derp.json'), 'netcheck-udp-blocked.json');
    // Then UDP blocking is the culprit
    expect(advice).toContain('UDP is blocked on this network');
    expect(advice).not.toContain('Exit node');
  });

  it('says this side is fine on an easy NAT without port mapping, instead of listing it as a culprit', async () => {
    // Given UDP working, MappingVariesByDestIP false, and no UPnP/NAT-PMP/PCP
    const { result, advice } = await check(tailscaleFixture('status-derp.json'), 'netcheck-no-port-mapping.json');
    // Then the relayed path is blamed on the other side
    expect(result.verdict).toBe('relayed');
    expect(advice).toContain('This side is fine: the blocker is likely on the other side.');
    expect(advice).not.toContain('No port mapping');
  });

  it('gives no context advice on a direct path', async () => {
    // Given a Health warning but a direct pong
    const { result } = await check(status((s) => void (s.Health = ['not connected to home DERP region 1'])), 'netcheck-good.json', tailscaleFixture('ping-direct.txt'));
    // Then there is nothing to fix
    expect(result.targets[0]?.advice).toEqual([]);
  });
});
