import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  description: 'Stop the sandbox (nothing keeps running); its data stays for the next up unless --purge',
  examples: ['byoc sandbox down', 'byoc sandbox down --purge --json'],
  options: {
    purge: option.boolean('--purge', 'sandbox.purge', 'also delete the sandbox data, users and logs'),
  },
  async run({ purge }, ctx) {
    const [{ sandboxDown }, { sandboxHostFor }] = await Promise.all([import('../../src/sandbox/sandbox.js'), import('../../src/sandbox/host.js')]);
    return sandboxDown(ctx.stateDir(), sandboxHostFor(ctx), { purge: purge ?? false });
  },
  text: (result) =>
    tsv([
      ['component', 'pid', 'was running', 'stopped with'],
      ['clickhouse', result.clickhouse.pid, result.clickhouse.wasRunning, result.clickhouse.stoppedWith ?? ''],
      ['nginx', result.nginx.pid, result.nginx.wasRunning, result.nginx.stoppedWith ?? ''],
      ['registration', '', result.unregistered ? 'removed' : 'none', ''],
      ['data', '', result.purged ? 'purged' : 'kept', ''],
    ]),
  async view(result, render) {
    const { SandboxDownView } = await import('../../src/ui/views/sandbox.js');
    return SandboxDownView({ result, color: render.color });
  },
});
