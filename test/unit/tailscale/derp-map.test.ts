import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../../src/errors.js';
import { checkTailscalePaths } from '../../../src/tailscale/check.js';
import { parseDerpMapJson, parseNetcheckJson, regionCodesOf } from '../../../src/tailscale/parse.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';

const node = (region: number, name: string) => ({ Name: name, RegionID: region, HostName: `derp${region}.example.com`, IPv4: '192.0.2.10', IPv6: '2001:db8::10' });
/** The shape `tailscale debug derp-map` prints (tailcfg.DERPMap, 2-space indented): newer regions and headscale's own. */
const DERP_MAP = JSON.stringify(
  {
    Regions: {
      '1': { RegionID: 1, RegionCode: 'nyc', RegionName: 'New York City', Nodes: [node(1, '1f')] },
      '27': { RegionID: 27, RegionCode: 'iad', RegionName: 'Ashburn', Nodes: [node(27, '27b')] },
      '28': { RegionID: 28, RegionCode: 'zrh', RegionName: 'Zurich', Nodes: [node(28, '28a')] },
      '900': { RegionID: 900, RegionCode: 'headscale', RegionName: 'Headscale Embedded DERP', Nodes: [node(900, '900a')] },
      '901': { RegionID: 901, RegionCode: 'byoc-fra', RegionName: 'BYOC self-hosted derper', Nodes: [node(901, '901a')] },
      '999': { RegionID: 999, RegionCode: '', RegionName: 'no code' },
    },
    OmitDefaultRegions: false,
  },
  null,
  2,
);

/** netcheck-good.json measured against that map: iad nearest, then the custom regions. */
function netcheckJson(): string {
  const report = JSON.parse(tailscaleFixture('netcheck-good.json')) as Record<string, unknown>;
  report.PreferredDERP = 27;
  report.RegionLatency = { '1': 9_100_000, '27': 3_400_000, '900': 12_600_000, '901': 41_000_000 };
  return `${JSON.stringify(report, null, '\t')}\n`;
}

describe('parseDerpMapJson', () => {
  it('reads region ids, codes and names, newer and custom ones included', () => {
    // Given the derp-map output
    const map = parseDerpMapJson(DERP_MAP);
    // Then every region with a code is known, sorted by id; the codeless one is left out
    expect(map.source).toBe('tailscale');
    expect(map.regions).toEqual([
      { id: 1, code: 'nyc', name: 'New York City' },
      { id: 27, code: 'iad', name: 'Ashburn' },
      { id: 28, code: 'zrh', name: 'Zurich' },
      { id: 900, code: 'headscale', name: 'Headscale Embedded DERP' },
      { id: 901, code: 'byoc-fra', name: 'BYOC self-hosted derper' },
    ]);
    // And netcheck's ids then resolve to them
    const netcheck = parseNetcheckJson(netcheckJson(), regionCodesOf(map));
    expect(netcheck.preferredDerp).toMatchObject({ id: 27, code: 'iad' });
    expect(netcheck.regions.map((region) => region.code)).toEqual(['iad', 'nyc', 'headscale', 'byoc-fra']);
  });

  it.each([
    ['not JSON', 'derp-map: no netmap yet\n'],
    ['JSON without regions', '{"Regions": {}}'],
    ['truncated', DERP_MAP.slice(0, 200)],
  ])('refuses %s with tailscale_bad_output', (_label, text) => {
    // Given output that is not a usable DERP map
    // Then a RemoteError names it
    expect(() => parseDerpMapJson(text)).toThrow(RemoteError);
    try {
      parseDerpMapJson(text);
    } catch (error) {
      expect((error as RemoteError).code).toBe('tailscale_bad_output');
    }
  });
});

describe('checkTailscalePaths with the DERP map from tailscale', () => {
  const runnerWith = (derpMap: { stdout?: string; stderr?: string; exitCode?: number }, pong: string) =>
    new ScriptedRunner([
      { match: /^status --json$/, stdout: tailscaleFixture('status-derp.json') },
      { match: /^netcheck --format=json$/, stdout: netcheckJson() },
      { match: /^debug derp-map$/, ...derpMap },
      { match: /^ping .* 100\.101\.23\.45$/, stdout: pong.repeat(3), stderr: 'direct connection not established\n', exitCode: 1 },
    ]);

  it('matches a DERP(iad) pong with netcheck’s row for region 27', async () => {
    // Given pongs via DERP(iad) and a derp map that knows region 27
    const runner = runnerWith({ stdout: DERP_MAP }, 'pong from ch (100.101.23.45) via DERP(iad) in 31ms\n');
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    // Then the region is measured and named, never "#27" or "not measured"
    const advice = result.targets[0]?.advice.join('\n') ?? '';
    expect(result.targets[0]?.derpRegion).toBe('iad');
    expect(advice).toContain('DERP region iad is 3.4 ms from here, the nearest region.');
    expect(advice).not.toMatch(/#27|was not measured/);
    expect(result.derpMap).toEqual({ source: 'tailscale', regions: 5, error: null });
  });

  it('resolves a headscale region (900+) the static table cannot know', async () => {
    // Given pongs through headscale's embedded DERP, region 900
    const runner = runnerWith({ stdout: DERP_MAP }, 'pong from ch (100.101.23.45) via DERP(headscale) in 40ms\n');
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    // Then its latency and the nearest region are both named by code
    expect(result.targets[0]?.advice.join('\n')).toContain('DERP region headscale is 12.6 ms from here; the nearest DERP region from here is iad at 3.4 ms.');
  });

  it('falls back to the static table when tailscale cannot give its map, and says why', async () => {
    // Given `tailscale debug derp-map` failing (an old CLI), and pongs via DERP(nyc)
    const runner = runnerWith({ stderr: 'tailscale: unknown subcommand "derp-map"\n', exitCode: 1 }, 'pong from ch (100.101.23.45) via DERP(nyc) in 31ms\n');
    // When checked
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    // Then the static table still names nyc (and 27 = iad), and the custom regions stay numbered
    expect(result.derpMap).toMatchObject({ source: 'static', error: 'tailscale debug derp-map exited with 1: tailscale: unknown subcommand "derp-map"' });
    expect(result.netcheck?.regions.map((region) => region.code)).toEqual(['iad', 'nyc', null, null]);
    expect(result.targets[0]?.advice.join('\n')).toContain('DERP region nyc is 9.1 ms from here; the nearest DERP region from here is iad at 3.4 ms.');
  });

  it('asks tailscale for its map once per invocation', async () => {
    // Given one runner (one invocation) used for two checks
    const runner = runnerWith({ stdout: DERP_MAP }, 'pong from ch (100.101.23.45) via DERP(iad) in 31ms\n');
    // When checked twice
    await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: CH }] });
    // Then derp-map ran once, status twice
    expect(runner.argsOf(/^debug derp-map$/)).toHaveLength(1);
    expect(runner.argsOf(/^status/)).toHaveLength(2);
  });
});
