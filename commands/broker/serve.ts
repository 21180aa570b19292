import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { defineCommand, option } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

const SWEEP_EVERY_MS = 30_000;
const NOTIFY_DRAIN_MS = 5_000;

export default defineCommand({
  examples: ['byoc broker serve --listen 127.0.0.1:8787', 'byoc broker serve --listen 0.0.0.0:8443 --tls-cert broker.crt --tls-key broker.key'],
  options: {
    listen: option.string({ flag: '--listen <host:port>', key: 'broker.listen', env: 'BYOC_BROKER_LISTEN', default: '127.0.0.1:8787', description: 'address to listen on' }),
    tlsCert: option.path({ flag: '--tls-cert <file>', key: 'broker.tlsCert', env: 'BYOC_BROKER_TLS_CERT', description: 'serve HTTPS with this certificate (PEM)' }),
    tlsKey: option.path({ flag: '--tls-key <file>', key: 'broker.tlsKey', env: 'BYOC_BROKER_TLS_KEY', description: 'private key for --tls-cert (PEM)' }),
  },
  async run({ listen, tlsCert, tlsKey }, ctx) {
    const { parseListenAddress, listenError, formatHostPort, isLoopback } = await import('../../src/access/listen.js');
    const address = parseListenAddress(listen);
    if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UsageError('tls_incomplete', '--tls-cert and --tls-key go together', { hint: 'Pass both, or neither for plain HTTP on loopback.' });
    const tls = tlsCert && tlsKey ? { cert: await readTlsFile(ctx.cwd, tlsCert, '--tls-cert'), key: await readTlsFile(ctx.cwd, tlsKey, '--tls-key') } : undefined;
    const [{ openBroker, notifierFor }, { createBrokerServer, listen: startListening }] = await Promise.all([
      import('../../src/access/open.js'),
      import('../../src/access/server.js'),
    ]);
    const configuration = await ctx.config();
    // broker.oidc: GET /v1/auth and the check of identity-provider tokens (checked before the store is held)
    const signIn = (await import('../../src/auth/broker-auth.js')).brokerAuthOptions(configuration, () => ctx.clock.now());
    // Held for as long as it serves: no lock round trip per decision, and embedded writers are told where it is.
    // Notifications (src/notify): decisions as they are committed, expiring-soon and lapsed from the timer below.
    const notifier = await notifierFor(ctx, configuration, 'served');
    const broker = await openBroker(ctx, configuration, { hold: true, ...(notifier ? { notifier } : {}) });
    // Given back on every way out (a failed listen too), so embedded commands can write again at once.
    try {
      if (!tls && !isLoopback(address.host)) {
        ctx.log.warn(`serving plain HTTP on ${address.host}: bearer tokens would cross the network in clear; pass --tls-cert and --tls-key`);
      }
      let server: ReturnType<typeof createBrokerServer>;
      try {
        server = createBrokerServer(broker, { ...(tls ? { tls } : {}), ...signIn, log: (line) => ctx.log.verbose(line) });
      } catch (error) {
        // Node checks the PEM pair when the HTTPS server is created: a wrong file or a key of another certificate.
        throw new UsageError('tls_invalid', `--tls-cert ${tlsCert} and --tls-key ${tlsKey} cannot serve HTTPS: ${(error as Error).message}`, {
          hint: 'Pass a PEM certificate and the private key it was issued for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY must print the same key).',
        });
      }
      let bound: Awaited<ReturnType<typeof startListening>>;
      try {
        bound = await startListening(server, address.host, address.port);
      } catch (error) {
        // Nothing listens, so the sweep loop below never starts.
        throw listenError(error, address) ?? error;
      }
      const url = `${tls ? 'https' : 'http'}://${formatHostPort(bound.address, bound.port)}`;
      await broker.announce(url);
      ctx.log.info(`byoc broker listening on ${url} (state: ${ctx.stateDir()}); Ctrl-C stops it`);
      // Expiry holds on the customer's side even when nobody calls the broker: sweep on a timer too.
      await notifier?.tick(broker.requestsInMemory());
      while (!ctx.signal.aborted) {
        await ctx.clock.sleep(SWEEP_EVERY_MS, ctx.signal).catch(() => undefined);
        if (!ctx.signal.aborted) await broker.sweep();
        if (!ctx.signal.aborted) await notifier?.tick(broker.requestsInMemory());
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return { url, stopped: true };
    } finally {
      await broker.close();
      // what is still being delivered gets a short while, then is given up (logged)
      await notifier?.close(NOTIFY_DRAIN_MS);
    }
  },
  text: (result) => `broker on ${result.url} stopped`,
});

async function readTlsFile(cwd: string, file: string, flag: string): Promise<string> {
  const resolved = path.resolve(cwd, file);
  try {
    return await readFile(resolved, 'utf8');
  } catch (error) {
    throw new UsageError('tls_file_unreadable', `${flag} ${file}: cannot read ${resolved} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      hint: `Check the path and that this user can read it: ls -l ${resolved}`,
    });
  }
}
