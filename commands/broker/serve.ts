import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import { defineCommand, option } from '../../src/command.js';
import type { Context } from '../../src/context.js';
import { UsageError } from '../../src/errors.js';

const SWEEP_EVERY_MS = 30_000;
const NOTIFY_DRAIN_MS = 5_000;
/** How long a stopping broker lets requests in flight finish before it closes their connections. */
const DRAIN_MS = 10_000;
const DRAIN_POLL_MS = 20;

export default defineCommand({
  stopsOnSignal: true,
  examples: ['byoc broker serve --listen 127.0.0.1:8787', 'byoc broker serve --listen 0.0.0.0:8443 --tls-cert broker.crt --tls-key broker.key'],
  options: {
    listen: option.string({ flag: '--listen <host:port>', key: 'broker.listen', env: 'BYOC_BROKER_LISTEN', default: '127.0.0.1:8787', description: 'address to listen on' }),
    tlsCert: option.path({ flag: '--tls-cert <file>', key: 'broker.tlsCert', env: 'BYOC_BROKER_TLS_CERT', description: 'serve HTTPS with this certificate (PEM)' }),
    tlsKey: option.path({ flag: '--tls-key <file>', key: 'broker.tlsKey', env: 'BYOC_BROKER_TLS_KEY', description: 'private key for --tls-cert (PEM)' }),
    insecureHttp: option.boolean({
      flag: '--insecure-http', key: 'broker.insecureHttp', env: 'BYOC_BROKER_INSECURE_HTTP', default: false,
      description: 'allow plain HTTP on an address other than loopback (tokens cross the network in clear)',
    }),
  },
  async run({ listen, tlsCert, tlsKey, insecureHttp }, ctx) {
    const { parseListenAddress, listenError, formatHostPort, isLoopback } = await import('../../src/access/listen.js');
    const address = parseListenAddress(listen);
    if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UsageError('tls_incomplete', '--tls-cert and --tls-key go together', { hint: 'Pass both, or neither for plain HTTP on loopback.' });
    // Refused before anything is opened: a bearer token (or an identity provider's token) sent in clear over a
    // network is a credential handed to whoever is on the path.
    const plainOnNetwork = !tlsCert && !isLoopback(address.host);
    if (plainOnNetwork && !insecureHttp) {
      throw new UsageError('plain_http_refused', `refusing to serve plain HTTP on ${address.host}: bearer tokens would cross the network in clear`, {
        hint: `Serve HTTPS: --tls-cert broker.crt --tls-key broker.key (then clients trust it with broker.caFile or byoc broker trust), listen on loopback (--listen 127.0.0.1:${address.port || 8787}) behind a TLS proxy, or, on a network you trust, pass --insecure-http.`,
      });
    }
    const tls = tlsCert && tlsKey ? { cert: await readTlsFile(ctx.cwd, tlsCert, '--tls-cert'), key: await readTlsFile(ctx.cwd, tlsKey, '--tls-key') } : undefined;
    const [{ openBroker, notifierFor }, { createBrokerServer, listen: startListening, stopLongPolls }] = await Promise.all([
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
    let closed = false;
    try {
      if (plainOnNetwork) {
        ctx.log.warn(`--insecure-http: serving plain HTTP on ${address.host}: bearer tokens cross the network in clear; prefer --tls-cert and --tls-key`);
      }
      let server: ReturnType<typeof createBrokerServer>;
      // Requests being handled: the server logs each one once its handler has settled (answered or failed),
      // which is when its decision is on disk or was refused; the drain waits for that, not only for the socket.
      let inFlight = 0;
      try {
        server = createBrokerServer(broker, {
          ...(tls ? { tls } : {}),
          ...signIn,
          log: (line) => {
            inFlight--;
            ctx.log.verbose(line);
          },
        });
        server.on('request', () => inFlight++);
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
      if (tls) {
        // What a client checks before pinning this certificate (the operator hands it over out of band).
        const { X509Certificate } = await import('node:crypto');
        const { fingerprintOf } = await import('../../src/net/broker-trust.js');
        const { base64 } = fingerprintOf(new X509Certificate(tls.cert).raw);
        ctx.log.info(`certificate fingerprint ${base64}; a client that does not trust its CA (broker.caFile) can pin it: byoc broker trust ${url} --fingerprint ${base64}`);
      }
      // Expiry holds on the customer's side even when nobody calls the broker: sweep on a timer too.
      await notifier?.tick(broker.requestsInMemory(), broker.noticeClaim());
      while (!ctx.signal.aborted) {
        await ctx.clock.sleep(SWEEP_EVERY_MS, ctx.signal).catch(() => undefined);
        if (!ctx.signal.aborted) await broker.sweep();
        if (!ctx.signal.aborted) await notifier?.tick(broker.requestsInMemory(), broker.noticeClaim());
      }
      // long-polls (access wait) answer now with the request as it stands, rather than hold the drain
      stopLongPolls(server);
      const drained = await drain(server, () => inFlight, ctx);
      // The last snapshot written and the lock given back before saying so.
      closed = true;
      await broker.close();
      ctx.log.info(
        drained.cut === 0
          ? `byoc broker stopped: every request in flight was answered; the store is closed`
          : `byoc broker stopped: ${drained.cut} request(s) still running after ${DRAIN_MS / 1000} s were cut off (their clients got no answer); the store is closed`,
      );
      return { url, stopped: true, cutOff: drained.cut };
    } finally {
      if (!closed) await broker.close();
      // what is still being delivered gets a short while, then is given up (logged)
      await notifier?.close(NOTIFY_DRAIN_MS);
    }
  },
  text: (result) => `broker on ${result.url} stopped`,
});

/**
 * Stops the server gracefully: no new connections, idle keep-alive connections closed as soon as they are idle
 * (a client between two requests), requests in flight answered, for at most DRAIN_MS; then whatever is left is
 * cut off. Polling rather than events: Node closes idle connections only when asked, and a keep-alive
 * connection becomes idle after each answer.
 */
async function drain(server: Server, inFlight: () => number, ctx: Pick<Context, 'clock' | 'log'>): Promise<{ cut: number }> {
  let closed = false;
  server.close(() => (closed = true));
  const busy = inFlight();
  if (busy > 0) ctx.log.info(`stopping: no new connections; finishing ${busy} request(s) in flight (at most ${DRAIN_MS / 1000} s)`);
  const deadline = ctx.clock.now().getTime() + DRAIN_MS;
  while (!(closed && inFlight() === 0) && ctx.clock.now().getTime() < deadline) {
    server.closeIdleConnections();
    await ctx.clock.sleep(DRAIN_POLL_MS);
  }
  const cut = inFlight();
  if (closed && cut === 0) return { cut: 0 };
  server.closeAllConnections();
  // A handler whose connection is gone may still be committing: the store is closed only after it settled, so a
  // decision is never half-written by this process (bounded: a commit is one write and one fdatasync).
  const settleBy = ctx.clock.now().getTime() + DRAIN_MS;
  while (inFlight() > 0 && ctx.clock.now().getTime() < settleBy) await ctx.clock.sleep(DRAIN_POLL_MS);
  return { cut };
}

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
