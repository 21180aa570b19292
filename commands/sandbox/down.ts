import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc sandbox down', 'byoc sandbox down --purge --json'],
  options: {
    purge: option.boolean({ flag: '--purge', key: 'sandbox.purge', env: 'BYOC_SANDBOX_PURGE', default: false, description: "also delete the sandbox's data, users and logs" }),
  },
  async run({ purge }, ctx) {
    const [{ sandboxDown }, { sandboxHostFor }] = await Promise.all([import('../../src/sandbox/sandbox.js'), import('../../src/sandbox/host.js')]);
    return sandboxDown(ctx.stateDir(), sandboxHostFor(ctx), { purge });
  },
  text: (result) =>
    tsv([
      ['component', 'pid', 'was running', 'stopped with'],
      ['clickhouse', result.clickhouse.pid, result.clickhouse.wasRunning, result.clickhouse.stoppedWith ?? ''],
      ['nginx', result.nginx.pid, result.nginx.wasRunning, result.nginx.stoppedWith ?? ''],
      ['prometheus', result.prometheus.pid, result.prometheus.wasRunning, result.prometheus.stoppedWith ?? ''],
      ['node-exporter', result.nodeExporter.pid, result.nodeExporter.wasRunning, result.nodeExporter.stoppedWith ?? ''],
      ['registration', '', result.unregistered ? 'removed' : 'none', ''],
      ['data', '', result.purged ? 'purged' : 'kept', ''],
    ]),
  async view(result, render) {
    const { SandboxDownView } = await import('../../src/ui/views/sandbox.js');
    return SandboxDownView({ result, color: render.color });
  },
});
