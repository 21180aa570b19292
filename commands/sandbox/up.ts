import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  description: 'Start a local customer deployment on loopback: ClickHouse behind nginx doing mutual TLS with the broker CA',
  examples: [
    'byoc sandbox up',
    'byoc sandbox up --json',
    'sudo byoc sandbox up --install',
    'BYOC_STATE_DIR=/tmp/byoc-demo byoc sandbox up && BYOC_USER=alice@vendor.example byoc access request sandbox --reason demo --no-wait',
  ],
  options: {
    install: option.boolean('--install', 'sandbox.install', 'install clickhouse-server and nginx-light with apt-get when missing (root)'),
    clickhouseBin: option.path('--clickhouse-bin <path>', 'sandbox.clickhouseBin', 'the clickhouse-server binary (default: PATH, /usr/sbin)'),
    nginxBin: option.path('--nginx-bin <path>', 'sandbox.nginxBin', 'the nginx binary (default: PATH, /usr/sbin)'),
  },
  async run({ install, clickhouseBin, nginxBin }, ctx) {
    const [{ sandboxUp }, { sandboxHostFor }, { openBroker }, { sandboxAuthority }] = await Promise.all([
      import('../../src/sandbox/sandbox.js'),
      import('../../src/sandbox/host.js'),
      import('../../src/access/open.js'),
      import('../../src/sandbox/broker-operator.js'),
    ]);
    // The sandbox is this machine's broker's deployment: nginx checks that broker's CRL and its approved requests
    // become users. Opened without the operator hooks, since this command is the operator here.
    const broker = await openBroker(ctx, await ctx.config(), { operatorHooks: false });
    return sandboxUp(ctx.stateDir(), sandboxHostFor(ctx), { authority: sandboxAuthority(broker), install: install ?? false, clickhouseBin, nginxBin });
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
