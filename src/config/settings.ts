/**
 * Every scalar setting byoc knows: its config key, its BYOC_* environment variable and its default.
 * Command flags point at a key here, so flag > env > file > default is resolved in one place and
 * `byoc config show` can say where each value came from. Keep it light: it loads on every start.
 */
export type SettingKind = 'string' | 'url' | 'boolean' | 'integer' | 'duration' | 'list' | 'path';

export interface Setting {
  key: string;
  env: string;
  kind: SettingKind;
  description: string;
  default?: unknown;
}

const define = (key: string, env: string, kind: SettingKind, description: string, defaultValue?: unknown): Setting =>
  defaultValue === undefined ? { key, env, kind, description } : { key, env, kind, description, default: defaultValue };

export const SETTINGS: readonly Setting[] = [
  define('output.json', 'BYOC_JSON', 'boolean', 'print one JSON document on stdout (errors as JSON on stderr)', false),
  define('output.color', 'BYOC_COLOR', 'boolean', 'colour on a TTY (NO_COLOR and FORCE_COLOR are honoured too)', true),
  define('output.verbose', 'BYOC_VERBOSE', 'boolean', 'diagnostic detail on stderr', false),
  define('user', 'BYOC_USER', 'string', 'your identity in embedded-broker mode'),
  define('broker.url', 'BYOC_BROKER_URL', 'url', 'URL of a served access broker; absent: the embedded broker'),
  define('broker.listen', 'BYOC_BROKER_LISTEN', 'string', 'address `byoc broker serve` listens on', '127.0.0.1:8787'),
  define('broker.tlsCert', 'BYOC_BROKER_TLS_CERT', 'path', 'TLS certificate (PEM) for `byoc broker serve`'),
  define('broker.tlsKey', 'BYOC_BROKER_TLS_KEY', 'path', 'TLS private key (PEM) for `byoc broker serve`'),
  define('network.proxy', 'BYOC_PROXY', 'url', 'proxy for tailnet traffic (socks5://, socks5h://, http://)'),
  define('tailscale.bin', 'BYOC_TAILSCALE_BIN', 'path', 'the tailscale CLI; default: found on PATH'),
  define('access.reason', 'BYOC_REASON', 'string', 'why you need access (an incident, a ticket)'),
  define('access.ticket', 'BYOC_TICKET', 'string', 'ticket or incident id to attach to a request'),
  define('access.duration', 'BYOC_DURATION', 'duration', 'how long the access should last', '1h'),
  define('access.scope', 'BYOC_SCOPE', 'list', 'what the access covers: clickhouse, kubernetes', ['clickhouse', 'kubernetes']),
  define('access.wait', 'BYOC_WAIT', 'boolean', 'wait for the decision (default: on a TTY)'),
  define('access.mine', 'BYOC_MINE', 'boolean', 'only your own requests'),
  define('access.reviewable', 'BYOC_REVIEWABLE', 'boolean', 'only requests you can review'),
  define('access.status', 'BYOC_STATUS', 'string', 'only requests in this status'),
  define('access.service', 'BYOC_SERVICE', 'string', 'only requests for this service'),
  define('access.comment', 'BYOC_COMMENT', 'string', 'comment for a review or revocation'),
  define('access.timeout', 'BYOC_WAIT_TIMEOUT', 'duration', 'how long `access wait` waits', '10m'),
  define('access.operatorFormat', 'BYOC_OPERATOR_FORMAT', 'string', 'operator-config output: sql or xml', 'sql'),
  define('access.request', 'BYOC_REQUEST', 'string', 'the access request to use (default: your newest approved one)'),
  define('cert.minRemaining', 'BYOC_MIN_REMAINING', 'duration', 'fail when less than this remains on the certificate', '0s'),
  define('policy.approvers', 'BYOC_POLICY_APPROVERS', 'list', 'identities allowed to approve (embedded broker)', []),
  define('policy.approvals', 'BYOC_POLICY_APPROVALS', 'integer', 'approvals required', 1),
  define('policy.maxDuration', 'BYOC_POLICY_MAX_DURATION', 'duration', 'longest grant a request may ask for', '8h'),
  define('policy.pendingTtl', 'BYOC_POLICY_PENDING_TTL', 'duration', 'how long a request may wait for approval', '1h'),
  define('sandbox.install', 'BYOC_SANDBOX_INSTALL', 'boolean', 'install the sandbox\'s Debian packages (clickhouse-server, nginx-light) when missing (root, apt-get)', false),
  define('sandbox.purge', 'BYOC_SANDBOX_PURGE', 'boolean', '`sandbox down` also deletes the sandbox\'s data, users and logs', false),
  define('sandbox.clickhouseBin', 'BYOC_SANDBOX_CLICKHOUSE_BIN', 'path', 'the clickhouse-server binary for the sandbox; default: found on PATH or in /usr/sbin'),
  define('sandbox.nginxBin', 'BYOC_SANDBOX_NGINX_BIN', 'path', 'the nginx binary for the sandbox; default: found on PATH or in /usr/sbin'),
];

export function findSetting(key: string): Setting | undefined {
  return SETTINGS.find((setting) => setting.key === key);
}

export function settingOrThrow(key: string): Setting {
  const setting = findSetting(key);
  if (!setting) throw new Error(`unknown setting ${key}: add it to SETTINGS in src/config/settings.ts`);
  return setting;
}
