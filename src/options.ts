import { commandSettings, option, type AnyCommand, type OptionSpec } from './command/definition.js';
import { readFileSync } from 'node:fs';
import { settingsFromData, uniqueSettings, type Setting, type SettingData, type SettingsCatalog } from './config/settings.js';

/**
 * Options declared once for more than one command, and settings domain code reads (the broker, the network, the
 * doctor). Every other option is declared next to the command that owns it. Keep this module light: it loads on
 * every start.
 */

/** Flags every command accepts; the root help lists them. They decide the output before any command loads. */
export const GLOBAL_OPTIONS = {
  json: option.boolean({
    flag: '--json', key: 'output.json', env: 'BYOC_JSON', default: false,
    description: 'print one JSON document on stdout; errors as JSON on stderr',
  }),
  verbose: option.boolean({ flag: '--verbose', key: 'output.verbose', env: 'BYOC_VERBOSE', default: false, description: 'diagnostic detail on stderr' }),
  color: option.boolean({
    flag: '--no-color', key: 'output.color', env: 'BYOC_COLOR', default: true, defaultNote: 'true (on a TTY)',
    description: 'colour on a TTY, errors and hints included (NO_COLOR and FORCE_COLOR are honoured too)',
  }),
  config: option.path({
    flag: '--config <file>', key: 'config', env: 'BYOC_CONFIG', inFile: false,
    defaultNote: 'searched from the current folder, then ~/.config/byoc/config.yaml',
    description: 'the configuration file (it must exist and be valid, whatever the command)',
  }),
};

export const SHARED = {
  user: option.string({ key: 'user', env: 'BYOC_USER', description: 'your identity in embedded-broker mode' }),
  groups: option.list({
    key: 'groups', env: 'BYOC_GROUPS', default: [], defaultNote: 'none',
    description: 'your groups in embedded-broker mode (the auditors group sees every request)',
  }),
  brokerAdmins: option.list({
    key: 'broker.admins', env: 'BYOC_BROKER_ADMINS', default: [], defaultNote: 'none',
    description: 'identities that may create, list and revoke tokens through the served broker',
  }),
  auditorsGroup: option.string({
    key: 'broker.auditorsGroup', env: 'BYOC_BROKER_AUDITORS_GROUP', default: 'auditors',
    description: 'members of this group (token or identity-provider groups) see every request',
  }),
  brokerStore: option.string({
    key: 'broker.store', env: 'BYOC_BROKER_STORE', defaultNote: 'the broker folder of the state folder',
    description: "where the broker keeps its events and CA: a folder (the JSONL log) or a postgres:// URL (several broker replicas on one database; password from BYOC_BROKER_STORE_PASSWORD, PGPASSWORD or broker.storePasswordFile)",
  }),
  brokerStorePasswordFile: option.path({
    key: 'broker.storePasswordFile', env: 'BYOC_BROKER_STORE_PASSWORD_FILE',
    description: 'a file holding the password of the postgres:// broker store (when BYOC_BROKER_STORE_PASSWORD and PGPASSWORD are unset)',
  }),
  brokerUrl: option.url({
    key: 'broker.url', env: 'BYOC_BROKER_URL', schemes: ['http', 'https'], defaultNote: 'the embedded broker',
    description: 'URL of a served access broker; absent: the embedded broker in the state folder',
  }),
  /** broker.oidc: read by the served broker (GET /v1/auth, the check of a provider's token) */
  oidcIssuer: option.url({
    key: 'broker.oidc.issuer', env: 'BYOC_OIDC_ISSUER', schemes: ['http', 'https'],
    description: 'served broker: the OpenID provider whose tokens it takes (exactly its issuer); absent: static tokens only',
  }),
  oidcClientId: option.string({ key: 'broker.oidc.clientId', env: 'BYOC_OIDC_CLIENT_ID', description: "served broker: byoc's client id at the OpenID provider (a public client)" }),
  oidcAudience: option.string({
    key: 'broker.oidc.audience', env: 'BYOC_OIDC_AUDIENCE', defaultNote: 'none: the ID token is the bearer',
    description: "served broker: the API audience of the provider's JWT access tokens; set, access tokens for it are the bearer",
  }),
  oidcIdentityClaim: option.string({ key: 'broker.oidc.identityClaim', env: 'BYOC_OIDC_IDENTITY_CLAIM', default: 'email', description: "served broker: the token claim that is a person's identity" }),
  oidcGroupsClaim: option.string({ key: 'broker.oidc.groupsClaim', env: 'BYOC_OIDC_GROUPS_CLAIM', description: "served broker: the token claim listing a person's groups" }),
  oidcScopes: option.list({
    key: 'broker.oidc.scopes', env: 'BYOC_OIDC_SCOPES', default: ['openid', 'email', 'offline_access'],
    description: 'served broker: the scopes byoc login asks for (offline_access: a refresh token, so sessions renew silently)',
  }),
  brokerCaFile: option.path({
    key: 'broker.caFile', env: 'BYOC_BROKER_CA',
    description: "PEM file of the CA that signed a served broker's certificate (a private CA); see also byoc broker trust",
  }),
  proxy: option.url({
    key: 'network.proxy', env: 'BYOC_PROXY', schemes: ['socks5', 'socks5h', 'http', 'https'],
    description: 'proxy for tailnet traffic',
  }),
  tailscaleBin: option.path({ key: 'tailscale.bin', env: 'BYOC_TAILSCALE_BIN', default: 'tailscale', description: 'the tailscale CLI (a name looked up on PATH, or a path)' }),
  tailscaleSocket: option.path({
    key: 'tailscale.socket', env: 'BYOC_TAILSCALE_SOCKET', default: '/var/run/tailscale/tailscaled.sock',
    description: "tailscaled's LocalAPI socket, read for status and ping before the CLI (absent or refusing: the CLI)",
  }),
  approvers: option.list({ key: 'policy.approvers', env: 'BYOC_POLICY_APPROVERS', default: [], defaultNote: 'none', description: 'identities allowed to approve (embedded broker)' }),
  approvals: option.integer({ key: 'policy.approvals', env: 'BYOC_POLICY_APPROVALS', default: 1, min: 1, description: 'approvals required' }),
  maxDuration: option.duration({ key: 'policy.maxDuration', env: 'BYOC_POLICY_MAX_DURATION', default: '8h', description: 'longest grant a request may ask for' }),
  pendingTtl: option.duration({ key: 'policy.pendingTtl', env: 'BYOC_POLICY_PENDING_TTL', default: '1h', description: 'how long a request may wait for approval' }),
  /** access approve, deny and revoke */
  comment: option.string({
    flag: '--comment <text>', key: 'access.comment', env: 'BYOC_COMMENT',
    description: 'a note for the requester and the audit trail (required to deny)',
  }),
  /** connect check, and the doctor's path step */
  pingCount: option.integer({ flag: '--count <n>', key: 'connect.count', env: 'BYOC_PING_COUNT', default: 3, min: 1, max: 20, description: 'tailscale pings per endpoint' }),
  connectTimeout: option.duration({
    flag: '--timeout <duration>', key: 'connect.timeout', env: 'BYOC_CONNECT_TIMEOUT', default: '3s',
    description: 'timeout per ping and per network stage',
  }),
};

/** The settings known before any command module loads. */
/** Options of every `byoc metrics` command that reads Prometheus (declared once here, used by each). */
export const METRICS_OPTIONS = {
  format: option.choice({
    flag: '--format <format>', key: 'metrics.format', env: 'BYOC_METRICS_FORMAT', choices: ['table', 'ndjson', 'csv', 'tsv'],
    defaultNote: 'table on a TTY, tsv piped', description: 'metrics output format (--json for the Prometheus answer as one document)',
  }),
  timeout: option.duration({ flag: '--timeout <duration>', key: 'metrics.timeout', env: 'BYOC_METRICS_TIMEOUT', default: '60s', description: 'time limit for a Prometheus call (sent as its timeout too)' }),
  maxSeries: option.integer({
    flag: '--max-series <n>', key: 'metrics.maxSeries', env: 'BYOC_METRICS_MAX_SERIES', default: 500, min: 1, max: 10_000,
    description: 'refuse an answer with more series than this (exit 2) rather than print a part of it',
  }),
};

export const SHARED_SETTINGS: readonly OptionSpec[] = [...Object.values(GLOBAL_OPTIONS), ...Object.values(SHARED)];

/** Something that loads a command module: a manifest entry. */
export interface CommandSource {
  file: string;
  load(): Promise<AnyCommand>;
}

/**
 * The whole table: the shared settings, then each command's options (loading every command module, once, ~20 ms),
 * for `config show`, completion and the README. A file that sets a command's key is checked against the table the
 * build wrote from the same declarations (`built`), so that no run pays for loading every command module.
 */
export function catalogFor(commands: readonly CommandSource[], built?: () => readonly Setting[] | undefined): SettingsCatalog {
  let all: Promise<readonly Setting[]> | undefined;
  let forFiles: Promise<readonly Setting[]> | undefined;
  const catalog: SettingsCatalog = {
    shared: SHARED_SETTINGS,
    all() {
      all ??= Promise.all(commands.map((entry) => entry.load())).then((loaded) =>
        uniqueSettings([...SHARED_SETTINGS, ...loaded.flatMap((definition) => commandSettings(definition))]),
      );
      return all;
    },
    forFiles() {
      forFiles ??= Promise.resolve(built?.()).then((table) => table ?? catalog.all());
      return forFiles;
    },
  };
  return catalog;
}

/**
 * The table the build wrote from every command's options (scripts/precompute.js; test/unit/precomputed.test.ts
 * checks it is current), or undefined when there is none (a run from the sources).
 */
export function builtSettings(): readonly Setting[] | undefined {
  try {
    return settingsFromData(JSON.parse(readFileSync(new URL('../settings.json', import.meta.url), 'utf8')) as SettingData[]);
  } catch {
    return undefined;
  }
}
