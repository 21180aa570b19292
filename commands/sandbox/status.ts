import { defineCommand, tsv } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc sandbox status', 'byoc sandbox status --json'],
  async run(_input, ctx) {
    const [{ sandboxStatus }, { sandboxHostFor }] = await Promise.all([import('../../src/sandbox/sandbox.js'), import('../../src/sandbox/host.js')]);
    return sandboxStatus(ctx.stateDir(), sandboxHostFor(ctx, false));
  },
  text: (status) =>
    tsv([
      ['up', status.up],
      ['registered', status.registered],
      ['clickhouse.running', status.clickhouse.running],
      ['clickhouse.healthy', status.clickhouse.healthy],
      ['clickhouse.pid', status.clickhouse.pid],
      ['clickhouse.httpPort', status.clickhouse.httpPort],
      ['clickhouse.tcpPort', status.clickhouse.tcpPort],
      ['clickhouse.httpUrl', status.clickhouse.httpUrl],
      ['nginx.running', status.nginx.running],
      ['nginx.healthy', status.nginx.healthy],
      ['nginx.pid', status.nginx.pid],
      ['nginx.port', status.nginx.port],
      ['nginx.url', status.nginx.url],
      ['nginx.metricsPort', status.nginx.metricsPort],
      ['nginx.metricsUrl', status.nginx.metricsUrl],
      ['prometheus.running', status.prometheus.running],
      ['prometheus.healthy', status.prometheus.healthy],
      ['prometheus.pid', status.prometheus.pid],
      ['prometheus.url', status.prometheus.url],
      ['nodeExporter.running', status.nodeExporter.running],
      ['nodeExporter.healthy', status.nodeExporter.healthy],
      ['nodeExporter.pid', status.nodeExporter.pid],
      ['nodeExporter.port', status.nodeExporter.port],
      ...status.grants.map((grant) => [`grant.${grant.requestId}`, grant.identity, grant.user, grant.notAfter, (grant.scopes ?? ['clickhouse']).join(',')]),
      ...Object.entries(status.paths).map(([name, file]) => [`path.${name}`, file]),
    ]),
  async view(status, render) {
    const { SandboxStatusView } = await import('../../src/ui/views/sandbox.js');
    return SandboxStatusView({ status, color: render.color });
  },
});
