import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  examples: [
    'byoc sandbox up',
    'byoc sandbox up --json',
    'sudo byoc sandbox up --install',
    'BYOC_STATE_DIR=/tmp/byoc-demo byoc sandbox up && BYOC_USER=alice@vendor.example byoc access request sandbox --reason demo --no-wait',
  ],
  options: {
    install: option.boolean({
      flag: '--install', key: 'sandbox.install', env: 'BYOC_SANDBOX_INSTALL', default: false,
      description: "install the sandbox's Debian packages (clickhouse-server, nginx-light, prometheus, prometheus-node-exporter) with apt-get when missing (root)",
    }),
    clickhouseBin: option.path({
      flag: '--clickhouse-bin <path>', key: 'sandbox.clickhouseBin', env: 'BYOC_SANDBOX_CLICKHOUSE_BIN', defaultNote: 'found on PATH or in /usr/sbin',
      description: 'the clickhouse-server binary',
    }),
    nginxBin: option.path({ flag: '--nginx-bin <path>', key: 'sandbox.nginxBin', env: 'BYOC_SANDBOX_NGINX_BIN', defaultNote: 'found on PATH or in /usr/sbin', description: 'the nginx binary' }),
    prometheusBin: option.path({
      flag: '--prometheus-bin <path>', key: 'sandbox.prometheusBin', env: 'BYOC_SANDBOX_PROMETHEUS_BIN', defaultNote: 'found on PATH or in /usr/bin', description: 'the prometheus binary',
    }),
    nodeExporterBin: option.path({
      flag: '--node-exporter-bin <path>', key: 'sandbox.nodeExporterBin', env: 'BYOC_SANDBOX_NODE_EXPORTER_BIN', defaultNote: 'found on PATH or in /usr/bin',
      description: 'the prometheus-node-exporter binary',
    }),
  },
  async run({ install, clickhouseBin, nginxBin, prometheusBin, nodeExporterBin }, ctx) {
    const [{ sandboxUp }, { sandboxHostFor }, { openBroker }, { sandboxAuthority }] = await Promise.all([
      import('../../src/sandbox/sandbox.js'),
      import('../../src/sandbox/host.js'),
      import('../../src/access/open.js'),
      import('../../src/sandbox/broker-operator.js'),
    ]);
    // The sandbox is this machine's broker's deployment: nginx checks that broker's CRL and its approved requests
    // become users. Opened without the operator hooks, since this command is the operator here.
    const broker = await openBroker(ctx, await ctx.config(), { operatorHooks: false });
    return sandboxUp(ctx.stateDir(), sandboxHostFor(ctx), { authority: sandboxAuthority(broker), install, clickhouseBin, nginxBin, prometheusBin, nodeExporterBin });
  },
  text: (result) =>
    // The same names as --json (clickhouse.url, deprecated, is left out here).
    tsv([
      ['service', result.service],
      ['state', result.alreadyRunning ? 'already running' : 'started'],
      ['nginx.url', result.nginx.url],
      ['clickhouse.httpUrl', result.clickhouse.httpUrl],
      ['clickhouse.httpPort', result.clickhouse.httpPort],
      ['clickhouse.tcpPort', result.clickhouse.tcpPort],
      ['clickhouse.pid', result.clickhouse.pid],
      ['nginx.port', result.nginx.port],
      ['nginx.pid', result.nginx.pid],
      ['nginx.metricsUrl', result.nginx.metricsUrl],
      ['nginx.metricsPort', result.nginx.metricsPort],
      ['prometheus.url', result.prometheus.url],
      ['prometheus.pid', result.prometheus.pid],
      ['nodeExporter.port', result.nodeExporter.port],
      ['nodeExporter.pid', result.nodeExporter.pid],
      ['requester', result.requester],
      ['approver', result.approver],
      ['customer.user', result.customer.user],
      ['customer.passwordFile', result.customer.passwordFile],
      ['customer.url', result.customer.url],
      ['caFile', result.caFile],
      ['stateDir', result.stateDir],
    ]),
  async view(result, render) {
    const { SandboxUpView } = await import('../../src/ui/views/sandbox.js');
    return SandboxUpView({ result, color: render.color });
  },
});
