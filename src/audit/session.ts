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
  refuseCredentialsIn(url, options.url ? '--url (audit.url, BYOC_AUDIT_URL)' : `${options.service ? `services.${options.service}.audit` : 'audit'}.url`);
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
  const session = await connector.connect({ url, agent, application: `byoc-audit/${ctx.version}`, timeoutMs: 300_000, username: user, password: password ?? '', settings });
  return { session, url };
}

/**
 * A user name or password inside the URL would bypass "the password comes only from the environment" (and show in
 * ps, shell history and every error naming the URL): refused, naming the URL only without them.
 */
function refuseCredentialsIn(url: string, setting: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  if (!parsed.username && !parsed.password) return;
  parsed.username = '';
  parsed.password = '';
  throw new UsageError('url_credentials', `${setting} carries a user name or password; byoc takes neither from a URL (${parsed.toString()} without them)`, {
    hint: `Pass the URL without them, the user with --user, and the password in CLICKHOUSE_PASSWORD (or --password-env NAME): CLICKHOUSE_PASSWORD=... byoc audit query-log --url ${parsed.toString()} --user auditor`,
  });
}
