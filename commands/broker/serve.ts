import { readFile } from 'node:fs/promises';
import { defineCommand, option } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

const SWEEP_EVERY_MS = 30_000;

export default defineCommand({
  examples: ['byoc broker serve --listen 127.0.0.1:8787', 'byoc broker serve --listen 0.0.0.0:8443 --tls-cert broker.crt --tls-key broker.key'],
  options: {
    listen: option.string({ flag: '--listen <host:port>', key: 'broker.listen', env: 'BYOC_BROKER_LISTEN', default: '127.0.0.1:8787', description: 'address to listen on' }),
    tlsCert: option.path({ flag: '--tls-cert <file>', key: 'broker.tlsCert', env: 'BYOC_BROKER_TLS_CERT', description: 'serve HTTPS with this certificate (PEM)' }),
    tlsKey: option.path({ flag: '--tls-key <file>', key: 'broker.tlsKey', env: 'BYOC_BROKER_TLS_KEY', description: 'private key for --tls-cert (PEM)' }),
  },
  async run({ listen, tlsCert, tlsKey }, ctx) {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
    if (!match) throw new UsageError('invalid_listen', `--listen must be host:port, got "${listen}"`, { hint: 'For example: --listen 127.0.0.1:8787' });
    if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UsageError('tls_incomplete', '--tls-cert and --tls-key go together', { hint: 'Pass both, or neither for plain HTTP on loopback.' });
    const host = match[1]!.replace(/^\[|\]$/g, '');
    const [{ openBroker }, { createBrokerServer, listen: startListening }] = await Promise.all([
      import('../../src/access/connect.js'),
      import('../../src/access/server.js'),
    ]);
    const configuration = await ctx.config();
    const broker = await openBroker(ctx, configuration);
    const tls = tlsCert && tlsKey ? { cert: await readFile(tlsCert, 'utf8'), key: await readFile(tlsKey, 'utf8') } : undefined;
    if (!tls && !/^(127\.|localhost$|::1$)/.test(host)) {
      ctx.log.warn(`serving plain HTTP on ${host}: bearer tokens would cross the network in clear; pass --tls-cert and --tls-key`);
    }
    const server = createBrokerServer(broker, { ...(tls ? { tls } : {}), log: (line) => ctx.log.verbose(line) });
    const address = await startListening(server, host, Number(match[2]));
    const url = `${tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    ctx.log.info(`byoc broker listening on ${url} (state: ${ctx.stateDir()}); Ctrl-C stops it`);
    // Expiry holds on the customer's side even when nobody calls the broker: sweep on a timer too.
    while (!ctx.signal.aborted) {
      await ctx.clock.sleep(SWEEP_EVERY_MS, ctx.signal).catch(() => undefined);
      if (!ctx.signal.aborted) await broker.sweep();
    }
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return { url, stopped: true };
  },
  text: (result) => `broker on ${result.url} stopped`,
});
