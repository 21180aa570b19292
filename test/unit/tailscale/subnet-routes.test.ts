import { describe, expect, it } from 'vitest';
import { checkTailscalePaths } from '../../../src/tailscale/check.js';
import { findRoute } from '../../../src/tailscale/classify.js';
import { parseStatusJson } from '../../../src/tailscale/parse.js';
import { tailscaleFixture } from '../../fakes/tailscale/index.js';
import { ScriptedRunner } from '../../fakes/tailscale/runner.js';

type Json = Record<string, unknown>;

/**
 * status-direct.json (k8s routes 10.100.0.0/16) plus a subnet router in front of the customer's VPC
 * (10.20.0.0/16, 192.168.50.0/24 and an IPv6 /64, with a more specific 10.20.7.0/24 on a second router),
 * an exit-node offerer (0.0.0.0/0, ::/0) and, when asked, a selected exit node.
 */
function statusWithRouters(options: { exitNodeInUse?: boolean; accepting?: boolean } = {}): string {
  const status = JSON.parse(tailscaleFixture('status-direct.json')) as Json;
  const peers = status.Peer as Record<string, Json>;
  const template = Object.values(peers)[0]!;
  const peer = (key: string, fields: Json): [string, Json] => [`nodekey:${key.padEnd(64, '0')}`, { ...template, Tags: ['tag:router'], CurAddr: '', Active: false, ...fields }];
  const added = [
    peer('a1', {
      ID: 'nRouterVpc1CNTRL',
      HostName: 'vpc-router-1',
      DNSName: 'vpc-router-1.abc123.us-east-1.aws.byoc.example.com.',
      TailscaleIPs: ['100.70.1.1', 'fd7a:115c:a1e0::1:101'],
      AllowedIPs: ['100.70.1.1/32', 'fd7a:115c:a1e0::1:101/128', '10.20.0.0/16', '192.168.50.0/24', 'fd00:ab:cd::/64'],
      PrimaryRoutes: ['10.20.0.0/16', '192.168.50.0/24', 'fd00:ab:cd::/64'],
    }),
    peer('a2', {
      ID: 'nRouterVpc2CNTRL',
      HostName: 'db-subnet-router',
      DNSName: 'db-subnet-router.abc123.us-east-1.aws.byoc.example.com.',
      TailscaleIPs: ['100.70.2.2'],
      AllowedIPs: ['100.70.2.2/32', '10.20.7.0/24'],
      PrimaryRoutes: ['10.20.7.0/24'],
    }),
    peer('a3', {
      ID: 'nExitOfferCNTRL',
      HostName: 'exit-offerer',
      DNSName: 'exit-offerer.abc123.us-east-1.aws.byoc.example.com.',
      TailscaleIPs: ['100.70.3.3'],
      AllowedIPs: ['100.70.3.3/32', '0.0.0.0/0', '::/0'],
      ExitNodeOption: true,
      ExitNode: options.exitNodeInUse === true,
    }),
  ];
  if (options.exitNodeInUse) status.ExitNodeStatus = { ID: 'nExitOfferCNTRL', Online: true, TailscaleIPs: ['100.70.3.3/32'] };
  if (options.accepting === false) status.Health = ['Some peers are advertising routes but --accept-routes is false'];
  status.Peer = { ...peers, ...Object.fromEntries(added) };
  return JSON.stringify(status, null, 2);
}

describe('findRoute', () => {
  const status = parseStatusJson(statusWithRouters());

  it.each([
    ['10.20.1.15', 'vpc-router-1', '10.20.0.0/16'],
    ['192.168.50.9', 'vpc-router-1', '192.168.50.0/24'],
    ['fd00:ab:cd::42', 'vpc-router-1', 'fd00:ab:cd::/64'],
    ['fd00:ab:cd:0:0:0:0:42', 'vpc-router-1', 'fd00:ab:cd::/64'],
    ['10.20.7.30', 'db-subnet-router', '10.20.7.0/24'],
    ['10.100.3.4', 'k8s', '10.100.0.0/16'],
  ])('%s is behind %s (%s)', (address, router, route) => {
    // Given routers with overlapping routes
    // When an address inside them is looked up
    const found = findRoute(status, address);
    // Then the longest matching prefix names the router
    expect(found).toMatchObject({ route, address: expect.any(String) });
    expect(found?.peer.hostName).toBe(router);
  });

  it.each(['10.21.0.1', '192.168.51.1', '8.8.8.8', 'fd00:ab:ce::1', '100.70.1.1'])('%s is behind no router', (address) => {
    // Given an address outside every subnet route (a peer's own /32 and an exit offerer's 0.0.0.0/0 do not count)
    // Then no route is found
    expect(findRoute(status, address)).toBeUndefined();
  });

  it('matches a name through the addresses resolved for it', () => {
    // Given a private name that resolves (split DNS) to an address behind the router
    // Then it is matched by that address
    expect(findRoute(status, 'ch.acme.internal', ['10.20.1.15'])?.peer.hostName).toBe('vpc-router-1');
  });

  it('uses the default route only for the exit node in use, and only when nothing more specific matches', () => {
    // Given the exit-node offerer selected as exit node
    const withExit = parseStatusJson(statusWithRouters({ exitNodeInUse: true }));
    // Then a public address goes through it, and a subnet address still through its router
    expect(findRoute(withExit, '203.0.113.9')).toMatchObject({ route: '0.0.0.0/0', peer: { hostName: 'exit-offerer' } });
    expect(findRoute(withExit, '10.20.1.15')?.peer.hostName).toBe('vpc-router-1');
  });
});

describe('checkTailscalePaths through a subnet router', () => {
  const scripted = (status: string, routerPing: string) =>
    new ScriptedRunner([
      { match: /^status --json$/, stdout: status },
      { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
      { match: /^debug derp-map$/, stderr: 'no derp map\n', exitCode: 1 },
      { match: /^ping .* 100\.70\.1\.1$/, stdout: routerPing },
    ]);

  it('pings the router for a private address behind it and reports via router <HostName>', async () => {
    // Given ClickHouse at 10.20.1.15, behind vpc-router-1, which answers directly
    const runner = scripted(statusWithRouters(), 'pong from vpc-router-1 (100.70.1.1) via 198.51.100.40:41641 in 4ms\n');
    // When checked by IP
    const result = await checkTailscalePaths({ runner, hosts: [{ name: 'clickhouse', host: '10.20.1.15' }] });
    // Then the router's Tailscale IP was pinged, the path is the router's, and the router is named
    expect(runner.argsOf(/^ping/)).toEqual([['ping', '-c', '3', '--timeout', expect.any(String), '100.70.1.1']]);
    expect(result.verdict).toBe('direct');
    expect(result.targets[0]).toMatchObject({
      path: 'direct',
      endpoint: '198.51.100.40:41641',
      pingTarget: '100.70.1.1',
      router: { name: 'vpc-router-1', ip: '100.70.1.1', route: '10.20.0.0/16', address: '10.20.1.15' },
      peer: { hostName: 'vpc-router-1' },
    });
    expect(result.targets[0]?.advice.join('\n')).toContain('via router vpc-router-1 (100.70.1.1), which routes 10.20.0.0/16');
  });

  it('resolves a private name to find its router, and relays are explained with the router named', async () => {
    // Given a name that resolves to 192.168.50.9, behind vpc-router-1, reached only through DERP
    const derp = 'pong from vpc-router-1 (100.70.1.1) via DERP(nyc) in 30ms\n'.repeat(3);
    const runner = scripted(statusWithRouters({ accepting: false }), derp);
    const asked: string[] = [];
    // When checked with a resolver
    const result = await checkTailscalePaths({
      runner,
      hosts: [{ name: 'clickhouse', host: 'ch.acme.internal' }],
      resolve: async (host) => {
        asked.push(host);
        return ['192.168.50.9'];
      },
    });
    // Then the name was resolved once, the router pinged, the path relayed, and the advice names the router and accept-routes
    expect(asked).toEqual(['ch.acme.internal']);
    expect(result.verdict).toBe('relayed');
    expect(result.targets[0]).toMatchObject({ path: 'derp', router: { name: 'vpc-router-1', route: '192.168.50.0/24', address: '192.168.50.9' } });
    const advice = result.targets[0]?.advice.join('\n') ?? '';
    expect(advice).toContain('ch.acme.internal (via router vpc-router-1)');
    // And accept-routes, without which nothing reaches 192.168.50.9 whatever the path, comes first
    expect(result.targets[0]?.advice[0]).toContain('tailscale set --accept-routes');
  });

  it('does not resolve names that are peers', async () => {
    // Given the MagicDNS name of a peer
    const runner = new ScriptedRunner([
      { match: /^status --json$/, stdout: statusWithRouters() },
      { match: /^netcheck --format=json$/, stdout: tailscaleFixture('netcheck-good.json') },
      { match: /^debug derp-map$/, stderr: 'no derp map\n', exitCode: 1 },
      { match: /^ping .* 100\.101\.23\.45$/, stdout: tailscaleFixture('ping-direct.txt') },
    ]);
    const asked: string[] = [];
    // When checked with a resolver that must not be needed
    const result = await checkTailscalePaths({
      runner,
      hosts: [{ name: 'clickhouse', host: 'ch.abc123.us-east-1.aws.byoc.example.com' }],
      resolve: async (host) => {
        asked.push(host);
        return [];
      },
    });
    // Then nothing was resolved, and the peer itself is pinged, with no router
    expect(asked).toEqual([]);
    expect(result.targets[0]).toMatchObject({ path: 'direct', router: null });
  });
});
