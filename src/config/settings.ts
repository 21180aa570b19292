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
  define('broker.crlFile', 'BYOC_BROKER_CRL_FILE', 'path', 'where `byoc broker crl` writes the CRL (default: stdout)'),
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
  define('cert.renew', 'BYOC_RENEW', 'boolean', 'issue a new certificate even when the stored one could be reused', false),
  define('connect.target', 'BYOC_TARGET', 'string', 'which endpoints to check: clickhouse, kubernetes or all', 'all'),
  define('connect.requireDirect', 'BYOC_REQUIRE_DIRECT', 'boolean', 'exit 6 when the path is relayed (DERP or peer relay)', false),
  define('connect.count', 'BYOC_PING_COUNT', 'integer', 'tailscale pings per endpoint', 3),
  define('connect.timeout', 'BYOC_CONNECT_TIMEOUT', 'duration', 'timeout per ping and per network stage', '3s'),
  define('query.format', 'BYOC_QUERY_FORMAT', 'string', 'query output: table (TTY default), json, ndjson, csv, tsv (piped default)'),
  define('query.maxRows', 'BYOC_MAX_ROWS', 'integer', 'stop after this many rows (0: no limit)', 100_000),
  define('query.timeout', 'BYOC_QUERY_TIMEOUT', 'duration', 'query time limit', '60s'),
  define('query.file', 'BYOC_QUERY_FILE', 'path', 'read the SQL from this file'),
  define('query.preset', 'BYOC_PRESET', 'string', 'run a curated diagnostic (byoc query presets)'),
  define('query.check', 'BYOC_CHECK', 'boolean', 'only check the SQL against the read-only policy'),
  define('audit.url', 'BYOC_AUDIT_URL', 'url', "the customer's ClickHouse HTTP(S) URL, for the audit"),
  // No defaults here: a service's audit entry fills in before the fallbacks (`default`, CLICKHOUSE_PASSWORD).
  define('audit.user', 'BYOC_AUDIT_USER', 'string', "the customer's ClickHouse user for the audit (default: default)"),
  define('audit.passwordEnv', 'BYOC_AUDIT_PASSWORD_ENV', 'string', 'name of the environment variable holding the password (default: CLICKHOUSE_PASSWORD)'),
  define('audit.caFile', 'BYOC_AUDIT_CA', 'path', "CA bundle for the customer's ClickHouse"),
  define('audit.certFile', 'BYOC_AUDIT_CERT', 'path', 'client certificate for the audit connection'),
  define('audit.keyFile', 'BYOC_AUDIT_KEY', 'path', 'client key for the audit connection'),
  define('audit.cluster', 'BYOC_AUDIT_CLUSTER', 'string', 'read every replica: clusterAllReplicas(cluster, query_log)'),
  define('audit.sourceTable', 'BYOC_AUDIT_SOURCE', 'string', 'audit an exported copy of query_log (db.table)', 'system.query_log'),
  define('audit.since', 'BYOC_AUDIT_SINCE', 'string', 'start of the window: a duration ago (24h) or a time', '24h'),
  define('audit.until', 'BYOC_AUDIT_UNTIL', 'string', 'end of the window: a duration ago or a time (default: now)'),
  define('audit.engineer', 'BYOC_AUDIT_ENGINEER', 'list', 'only these engineers (identity or ClickHouse user)'),
  define('audit.request', 'BYOC_AUDIT_REQUEST', 'string', 'only this access request'),
  define('audit.userPattern', 'BYOC_AUDIT_USER_PATTERN', 'string', 'regular expression for engineer users', '^byoc_'),
  define('audit.grants', 'BYOC_AUDIT_GRANTS', 'string', 'approved windows: a file from `byoc access list --json`, or "broker"'),
  define('audit.queries', 'BYOC_AUDIT_QUERIES', 'boolean', 'include the list of queries'),
  define('audit.findingsOnly', 'BYOC_AUDIT_FINDINGS_ONLY', 'boolean', 'print findings only; exit 4 when there are any'),
  define('audit.follow', 'BYOC_AUDIT_FOLLOW', 'boolean', 'keep printing new queries until Ctrl-C'),
  define('audit.flush', 'BYOC_AUDIT_FLUSH', 'boolean', 'SYSTEM FLUSH LOGS before reading'),
  define('audit.format', 'BYOC_AUDIT_FORMAT', 'string', 'query list format: table, json, ndjson or csv'),
  define('audit.interval', 'BYOC_AUDIT_INTERVAL', 'duration', 'how often --follow polls', '2s'),
  define('kubernetes.kubeconfig', 'BYOC_KUBECONFIG', 'path', 'kubeconfig file to merge into; default: first KUBECONFIG entry, else ~/.kube/config'),
  define('kubernetes.contextName', 'BYOC_KUBE_CONTEXT', 'string', 'name of the kubeconfig context (and its cluster and user); default: byoc-<service>'),
  define('kubernetes.switch', 'BYOC_KUBE_SWITCH', 'boolean', 'make the context the current-context', false),
  define('kubernetes.print', 'BYOC_KUBE_PRINT', 'boolean', 'print a kubeconfig with only this context to stdout; write nothing', false),
  define('kubernetes.since', 'BYOC_K8S_SINCE', 'duration', 'how far back diagnostics read Warning events', '1h'),
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
