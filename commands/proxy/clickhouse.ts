import { defineCommand, option } from '../../src/command.js';
import { RemoteError, UsageError, type ByocError } from '../../src/errors.js';

/** What the proxy says first (`--json`: one line), for whoever starts it to connect with. */
export interface ProxyAnnouncement {
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  service: string;
  requestId: string;
  endsAt: string;
}

interface ProxyRun extends ProxyAnnouncement {
  /** settles once the proxy has stopped: with the reason the grant ended it, or undefined after Ctrl-C / SIGTERM */
  stopped: Promise<ByocError | undefined>;
  /** what `stopped` gave, for the exit code once the output is over */
  ending: { reason?: ByocError | undefined };
  /** stops it from the output's side (stdout failed): the same shutdown as Ctrl-C */
  stop(): void;
}

/** Any user name is accepted (the password is what counts); this is the one printed. */
const USER = 'byoc';

/** The loopback addresses --address takes, and what each binds. */
const LOOPBACK: Record<string, { bind: string; names: string[] }> = {
  '127.0.0.1': { bind: '127.0.0.1', names: ['127.0.0.1', 'localhost'] },
  localhost: { bind: '127.0.0.1', names: ['127.0.0.1', 'localhost'] },
  '::1': { bind: '::1', names: ['::1', 'localhost'] },
  '[::1]': { bind: '::1', names: ['::1', 'localhost'] },
};

export default defineCommand({
  stopsOnSignal: true,
  examples: [
    'byoc proxy clickhouse acme-prod',
    'byoc proxy clickhouse acme-prod --port 8123 --json',
    'byoc proxy clickhouse acme-prod --address ::1 --timeout 5m',
  ],
  args: {
    service: { description: 'the customer service', required: true },
  },
  options: {
    port: option.integer({ flag: '--port <n>', key: 'proxy.port', env: 'BYOC_PROXY_PORT', default: 0, min: 0, max: 65_535, description: 'local port to listen on (0: a free port, printed)' }),
    address: option.string({
      flag: '--address <address>', key: 'proxy.address', env: 'BYOC_PROXY_ADDRESS', default: '127.0.0.1',
      description: 'loopback address to listen on: 127.0.0.1, ::1 or localhost (any other is refused)',
    }),
    timeout: option.duration({ flag: '--timeout <duration>', key: 'proxy.timeout', env: 'BYOC_PROXY_TIMEOUT', default: '60s', description: 'time limit for each statement (then cancelled on the server)' }),
  },
  async run({ service, port, address, timeout }, ctx): Promise<ProxyRun> {
    const loopback = LOOPBACK[address.trim().toLowerCase()];
    if (!loopback) {
      // Whoever reaches the port queries the customer as the engineer, with the engineer's certificate.
      throw new UsageError('address_not_loopback', `refusing to listen on ${address}: byoc proxy serves this machine only (anyone who reaches it queries ${service} with your certificate)`, {
        hint: `Use --address 127.0.0.1 (the default) or ::1; to use it from another machine, forward the port over SSH (ssh -L 8123:127.0.0.1:${port || 8123} this-host).`,
      });
    }
    const [{ randomBytes }, { openEngineerSession, IDLE_MARGIN_MS }, { startProxy }, { watchGrant }, { formatHostPort }] = await Promise.all([
      import('node:crypto'),
      import('../../src/clickhouse/engineer.js'),
      import('../../src/proxy/server.js'),
      import('../../src/access/grant-watch.js'),
      import('../../src/access/listen.js'),
    ]);
    const { session, target, endsAt, tags, nextQueryId, settings } = await openEngineerSession(ctx, service, { timeoutMs: timeout + IDLE_MARGIN_MS });
    // Any local user, and any web page in a browser, can reach a loopback port: the password is what makes it
    // this engineer's proxy. New for every run, never stored.
    const password = randomBytes(24).toString('base64url');
    let proxy: Awaited<ReturnType<typeof startProxy>>;
    try {
      proxy = await startProxy({
        host: loopback.bind,
        hostNames: loopback.names,
        port,
        password,
        target,
        tags,
        nextQueryId,
        memory: settings,
        timeoutMs: timeout,
        endsAt,
        log: (line) => ctx.log.info(line),
        now: () => ctx.clock.now(),
      });
    } catch (error) {
      await session.close();
      throw listenError(error, formatHostPort(loopback.bind, port), port) ?? error;
    }
    const watch = watchGrant({
      service,
      requestId: tags.requestId,
      endsAt,
      clock: ctx.clock,
      broker: () => ctx.client('broker'),
      onWarning: (message) => ctx.log.warn(message),
      onUnreachable: (message) => ctx.log.warn(message),
      signal: ctx.signal,
    });
    const hostPort = formatHostPort(loopback.bind, proxy.port);
    const ending: ProxyRun['ending'] = {};
    return {
      url: `http://${USER}:${password}@${hostPort}/`,
      host: loopback.bind,
      port: proxy.port,
      user: USER,
      password,
      service,
      requestId: tags.requestId,
      endsAt: new Date(endsAt).toISOString(),
      stop: () => watch.stop(),
      stopped: (async () => {
        // Ctrl-C / SIGTERM (ctx.signal) makes the watch settle with no reason; the grant's end or revocation with one.
        try {
          ending.reason = await watch.ended;
          return ending.reason;
        } finally {
          // a failing watch (a bug) closes everything too: the process must not hang on an open port
          watch.stop();
          await proxy.close();
          await session.close();
        }
      })(),
      ending,
    };
  },
  json: (result) => announce(result, { url: result.url, host: result.host, port: result.port, user: result.user, password: result.password, service: result.service, requestId: result.requestId, endsAt: result.endsAt }),
  text: (result) =>
    announce(
      result,
      `${result.url}\n` +
        `curl '${result.url}' --data-binary 'SELECT version()'\n` +
        `serving ${result.service} as ${result.requestId} until ${result.endsAt}; Ctrl-C stops it\n`,
    ),
  outcome: (result) => result.ending.reason,
});

/** Why the proxy could not listen, with the flag to change (broker serve's own errors name --listen). */
function listenError(error: unknown, where: string, port: number): ByocError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return new RemoteError('listen_address_in_use', `cannot listen on ${where}: port ${port} is already in use`, {
      hint: `Another process holds it (ss -ltnp 'sport = :${port}' shows which); pick another with --port N, or --port 0 for a free one.`,
      cause: error,
    });
  }
  if (code === 'EACCES') {
    return new RemoteError('listen_not_permitted', `cannot listen on ${where}: permission denied`, {
      hint: port < 1024 ? 'Ports below 1024 need root; pick one above 1023 with --port N, or --port 0 for a free one.' : 'Pick another port with --port N, or --port 0 for a free one.',
      cause: error,
    });
  }
  if (code === 'EADDRNOTAVAIL') {
    return new UsageError('invalid_listen', `cannot listen on ${where}: this machine has no such loopback address (IPv6 off?)`, { hint: 'Use --address 127.0.0.1 (the default).', cause: error });
  }
  return undefined;
}


/** The announcement at once, then nothing until the proxy has stopped (the output ends when it does). */
async function* announce<T>(result: ProxyRun, first: T): AsyncGenerator<T> {
  let over = false;
  try {
    yield first;
    await result.stopped;
    over = true;
  } finally {
    // Left early (stdout failed): nothing keeps serving once nobody can read its URL or hear its end.
    if (!over) {
      result.stop();
      await result.stopped;
    }
  }
}
