import type { ClickHouseSession } from '../clickhouse/client.js';
import type { Context } from '../context.js';
import { ConfigError, UsageError } from '../errors.js';

export interface AuditConnectionOptions {
  service?: string | undefined;
  url?: string | undefined;
  user?: string | undefined;
  passwordEnv?: string | undefined;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * The customer's own connection: a URL and user with the password from an environment variable (never a
 * flag), or a service's `audit` entry (the sandbox registers one with a 0600 password file).
 */
export async function connectAudit(ctx: Context, options: AuditConnectionOptions): Promise<{ session: ClickHouseSession; url: string }> {
  const { maskError } = await import('./mask.js');
  try {
    return await connect(ctx, options);
  } catch (error) {
    throw maskError(error);
  }
}

async function connect(ctx: Context, options: AuditConnectionOptions): Promise<{ session: ClickHouseSession; url: string }> {
  const configuration = await ctx.config();
  const service = options.service ? configuration.service(options.service) : undefined;
  const registered = options.service ? (await import('../config/state-services.js')).stateServices(ctx.stateDir()).then((all) => all[options.service!]) : undefined;
  const fromService = service?.audit ?? (await registered)?.audit;
  const url = options.url ?? fromService?.url;
  if (!url) {
    throw new ConfigError('audit_url_missing', 'no ClickHouse URL to audit', {
      hint: 'Pass --url https://clickhouse.example:8443 (or BYOC_AUDIT_URL, audit.url), or name a service with an audit entry.',
    });
  }
  await refuseCredentialsIn(url, options.url ? '--url (audit.url, BYOC_AUDIT_URL)' : `${options.service ? `services.${options.service}.audit` : 'audit'}.url`);
  const user = options.user ?? fromService?.user ?? 'default';
  const passwordEnv = options.passwordEnv ?? fromService?.passwordEnv ?? 'CLICKHOUSE_PASSWORD';
  let password = ctx.env[passwordEnv];
  const { readConfiguredFile } = await import('../config/files.js');
  const where = options.service ? `services.${options.service}.audit` : 'audit';
  if (password === undefined && fromService?.passwordFile) password = (await readConfiguredFile(configuration, `${where}.passwordFile`, fromService.passwordFile)).trim();
  const read = async (key: string, file: string | undefined) => (file ? readConfiguredFile(configuration, key, file) : undefined);
  const [ca, cert, key] = await Promise.all([
    read(options.caFile ? 'audit.caFile' : `${where}.caFile`, options.caFile ?? fromService?.caFile),
    read('audit.certFile', options.certFile),
    read('audit.keyFile', options.keyFile),
  ]);
  const { agentFor } = await import('../net/agents.js');
  const agent = await agentFor(ctx, new URL(url), { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), keepAlive: true });
  const connector = await ctx.client('clickhouse');
  // Failures name the settings this connection came from (not an engineer's service endpoint).
  const settings = { url: options.url ? 'audit.url (--url)' : `${where}.url`, caFile: options.caFile || !fromService?.caFile ? 'audit.caFile (--ca)' : `${where}.caFile` };
  const { maskCredentials, maskError } = await import('./mask.js');
  const session = await connector.connect({ url, agent, application: `byoc-audit/${ctx.version}`, timeoutMs: 300_000, username: user, password: password ?? '', settings });
  return { session: masked(session, maskError), url: maskCredentials(url) };
}

/**
 * The session with every error it raises masked (mask.ts): a server exception quoting a URL with credentials, or the
 * driver naming the URL it could not reach, is printed by main; streamed rows fail while being read, so the
 * iteration is wrapped too.
 */
function masked(session: ClickHouseSession, maskError: (error: unknown) => unknown): ClickHouseSession {
  const guard = async <T>(promise: Promise<T>): Promise<T> => {
    try {
      return await promise;
    } catch (error) {
      throw maskError(error);
    }
  };
  const stream = <T>(iterable: AsyncIterable<T>): AsyncIterable<T> => ({
    async *[Symbol.asyncIterator]() {
      try {
        yield* iterable;
      } catch (error) {
        throw maskError(error);
      }
    },
  });
  return {
    query: (request) => guard(session.query(request)).then(stream),
    queryRaw: (request) => guard(session.queryRaw(request)).then(stream),
    command: (text, signal) => guard(session.command(text, signal)),
    close: () => guard(session.close()),
  };
}

/**
 * A user name or password inside the URL would bypass "the password comes only from the environment" (and show in
 * ps, shell history and every error naming the URL): refused, naming the URL only without them.
 */
async function refuseCredentialsIn(url: string, setting: string): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  // ClickHouse's HTTP interface also takes ?user= and ?password=, and the driver reads ?access_token=: the same bypass
  const inQuery = ['user', 'password', 'access_token'].filter((name) => parsed.searchParams.has(name));
  if (!parsed.username && !parsed.password && !inQuery.length) return;
  parsed.username = '';
  parsed.password = '';
  for (const name of inQuery) parsed.searchParams.delete(name);
  const { maskCredentials } = await import('./mask.js');
  const shown = maskCredentials(parsed.toString());
  throw new UsageError('url_credentials', `${setting} carries a user name or password; byoc takes neither from a URL (${shown} without them)`, {
    hint: `Pass the URL without them, the user with --user, and the password in CLICKHOUSE_PASSWORD (or --password-env NAME): CLICKHOUSE_PASSWORD=... byoc audit query-log --url ${shown} --user auditor`,
  });
}
