/**
 * The sandbox's configuration files, as pure text. ClickHouse 18.16 (Debian's `clickhouse-server`) reads
 * `<yandex>`-rooted XML and knows no certificate users, so the mutual TLS lives in nginx: it verifies the
 * engineer's certificate against the broker's CA and tells ClickHouse who is asking (X-ClickHouse-User).
 */
import { READONLY_PROFILE } from '../access/operator.js';
import { requestUrn, serverUserFor } from '../access/server-user.js';
import type { AccessRequest, Scope } from '../access/types.js';
import { UsageError } from '../errors.js';
import { CUSTOMER_USER, SANDBOX_HOST, type SandboxPaths } from './layout.js';

export interface ClickhouseConfigInput {
  paths: SandboxPaths;
  httpPort: number;
  tcpPort: number;
}

export function renderClickhouseConfig({ paths, httpPort, tcpPort }: ClickhouseConfigInput): string {
  const data = paths.clickhouse.data;
  return `<?xml version="1.0"?>
<!-- Written by byoc sandbox up (rewritten on every up). ClickHouse 18.16 syntax. -->
<yandex>
    <logger>
        <level>information</level>
        <log>${xmlText(paths.clickhouse.log)}</log>
        <errorlog>${xmlText(paths.clickhouse.errorLog)}</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <!-- loopback only: nginx (mutual TLS) is the one door for engineers -->
    <listen_host>127.0.0.1</listen_host>
    <http_port>${httpPort}</http_port>
    <tcp_port>${tcpPort}</tcp_port>
    <max_connections>256</max_connections>
    <!-- longer than nginx's upstream keepalive_timeout, so nginx never reuses a connection ClickHouse is closing -->
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <umask>077</umask>
    <path>${xmlText(`${data}/`)}</path>
    <tmp_path>${xmlText(`${data}/tmp/`)}</tmp_path>
    <user_files_path>${xmlText(`${data}/user_files/`)}</user_files_path>
    <format_schema_path>${xmlText(`${data}/format_schemas/`)}</format_schema_path>
    <!-- relative to this file; ClickHouse merges users.d/*.xml into it and re-reads both when they change -->
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <!-- 18.16 logs a query only when the user's profile has log_queries = 1 (set in every profile of users.xml) -->
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>1000</flush_interval_milliseconds>
    </query_log>
</yandex>
`;
}

export interface UsersXmlInput {
  /** SHA-256 (hex) of the `default` user's password: a random one nobody is told, so `default` is closed */
  defaultPasswordSha256: string;
  customerPasswordSha256: string;
}

/**
 * Profiles and the two local users. `readonly = 1` (not 2) for engineers: in 18.16 readonly 2 lets a client
 * change any setting but `readonly`, including `log_queries=0`, which would hide its queries from the customer's
 * audit, and it allows table functions (`url()`, `remote()`). Limits therefore live in the profile, not in
 * per-query settings (which readonly 1 refuses).
 */
export function renderUsersXml({ defaultPasswordSha256, customerPasswordSha256 }: UsersXmlInput): string {
  const loopback = `<networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>`;
  return `<?xml version="1.0"?>
<!-- Written by byoc sandbox up (rewritten on every up). Engineer users are added in users.d/ by the operator step. -->
<yandex>
    <profiles>
        <default>
            <log_queries>1</log_queries>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
        <${READONLY_PROFILE}>
            <readonly>1</readonly>
            <log_queries>1</log_queries>
            <max_execution_time>60</max_execution_time>
            <!-- generous: byoc streams with constant memory; the benchmark reads 10M rows -->
            <max_result_rows>100000000</max_result_rows>
        </${READONLY_PROFILE}>
    </profiles>
    <users>
        <default>
            <password_sha256_hex>${hex(defaultPasswordSha256)}</password_sha256_hex>
            ${loopback}
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <${CUSTOMER_USER}>
            <password_sha256_hex>${hex(customerPasswordSha256)}</password_sha256_hex>
            ${loopback}
            <profile>default</profile>
            <quota>default</quota>
        </${CUSTOMER_USER}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;
}

/**
 * One approved request on the sandbox: its own ClickHouse user, which only nginx can use (nginx holds the password),
 * and the certificate subject nginx maps to it. `notAfter` lets the expiry sweep work without asking the broker.
 */
export interface SandboxGrant {
  requestId: string;
  identity: string;
  service: string;
  user: string;
  notAfter: string;
  /** what the request was approved for; absent in grants written before #18, which were all ClickHouse grants */
  scopes?: Scope[];
}

export function grantFor(request: Pick<AccessRequest, 'id' | 'requester' | 'service' | 'notAfter'> & { scopes?: readonly Scope[] }): SandboxGrant {
  assertMappableIdentity(request.requester);
  if (!request.notAfter) throw new Error(`${request.id} has no grant end`);
  return {
    requestId: request.id,
    identity: request.requester,
    service: request.service,
    user: serverUserFor(request.id, request.requester),
    notAfter: request.notAfter,
    scopes: [...(request.scopes ?? ['clickhouse'])],
  };
}

/** Whether a grant reaches ClickHouse (its own user) and whether it passes the metrics door. */
export const grantsClickhouse = (grant: Pick<SandboxGrant, 'scopes'>) => grant.scopes === undefined || grant.scopes.includes('clickhouse');
export const grantsMetrics = (grant: Pick<SandboxGrant, 'scopes'>) => grant.scopes?.includes('metrics') === true;

/**
 * The operator step for ClickHouse 18.16, which knows no certificate users: a read-only, system-only user per
 * request that only loopback (nginx) can reach, with a random password that only nginx holds and sends, so nothing
 * else on ClickHouse's own ports can act as the engineer. nginx has already verified the certificate (and the CRL).
 */
export function renderGrantUserXml(grant: SandboxGrant, passwordSha256: string): string {
  const header = `byoc operator step for ${grant.requestId}: ${grant.identity} on ${grant.service}, approved until ${grant.notAfter}`;
  return `<?xml version="1.0"?>
<!-- ${xmlComment(header)} -->
${grantMarker(grant)}
<yandex>
    <users>
        <${grant.user}>
            <password_sha256_hex>${hex(passwordSha256)}</password_sha256_hex>
            <networks>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>${READONLY_PROFILE}</profile>
            <quota>default</quota>
            <allow_databases>
                <database>system</database>
            </allow_databases>
        </${grant.user}>
    </users>
</yandex>
`;
}

const GRANT_MARKER = /^<!-- byoc-grant: (\{.*\}) -->$/m;

/** users.d files carry the grant they were written for, so the sandbox can tell its own files from anything else. */
function grantMarker({ requestId, identity, service, user, notAfter, scopes }: SandboxGrant): string {
  // Field by field: a caller's object may hold more (the password) than may be written here.
  // `--` may not stand inside an XML comment; JSON's \u escape keeps the value exact.
  return `<!-- byoc-grant: ${JSON.stringify({ requestId, identity, service, user, notAfter, scopes }).replace(/--/g, '\\u002d\\u002d')} -->`;
}

export function grantOfUsersFile(content: string): SandboxGrant | undefined {
  const json = GRANT_MARKER.exec(content)?.[1];
  if (!json) return undefined;
  try {
    const grant = JSON.parse(json) as SandboxGrant;
    return typeof grant.requestId === 'string' && typeof grant.user === 'string' && typeof grant.identity === 'string' && typeof grant.notAfter === 'string' ? grant : undefined;
  } catch {
    return undefined;
  }
}

export interface NginxConfigInput {
  paths: SandboxPaths;
  port: number;
  clickhouseHttpPort: number;
  /** the metrics door (mutual TLS, metrics scope, read allowlist) in front of Prometheus */
  metricsPort: number;
  prometheusPort: number;
  /** the broker's CA certificate: the only issuer nginx accepts client certificates from */
  caFile: string;
  /** the broker's revocation list: a revoked certificate is refused even while its mapping exists */
  crlFile: string;
  /** nginx started by root runs workers as `nobody`, who cannot enter the 0700 sandbox folder */
  runAsRoot: boolean;
  /** changes whenever users.map changes, so a reload can be seen to have taken effect */
  generation: string;
}

export function renderNginxConfig({ paths, port, clickhouseHttpPort, metricsPort, prometheusPort, caFile, crlFile, runAsRoot, generation }: NginxConfigInput): string {
  const n = paths.nginx;
  const temp = (name: string) => quote(`${n.temp}/${name}`);
  return `# Written by byoc sandbox up (rewritten on every up and operator step). generation ${generation}
${runAsRoot ? 'user root;\n' : ''}daemon on;
master_process on;
worker_processes 1;
pid ${quote(n.pid)};
error_log ${quote(n.errorLog)} warn;

events {
    worker_connections 256;
}

http {
    server_tokens off;
    default_type text/plain;
    log_format byoc '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent dn="$ssl_client_s_dn" verify=$ssl_client_verify ch_user="$byoc_ch_user"';
    access_log ${quote(n.accessLog)} byoc;
    client_body_temp_path ${temp('client_body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};

    # Keys are whole subjects (identity + request URN): buckets must hold the longest one (identities are at most 200).
    map_hash_bucket_size 512;

    # The certificate's subject names the engineer and the request (OU=urn:byoc:request:<id>): each approved
    # request maps to its own ClickHouse user, never the engineer's name alone. Unlisted subjects map to "" and
    # are refused.
    map $ssl_client_s_dn $byoc_ch_user {
        default "";
        include ${quote(n.usersMap)};
    }

    # Each grant's user has a random password that only nginx holds: ClickHouse's own port refuses the user
    # to anything that is not this nginx.
    map $byoc_ch_user $byoc_ch_key {
        default "";
        include ${quote(n.keysMap)};
    }

    upstream clickhouse {
        server 127.0.0.1:${clickhouseHttpPort};
        keepalive 8;
        keepalive_timeout 5s;
    }

    server {
        listen 127.0.0.1:${port} ssl;
        server_name ${SANDBOX_HOST};
        ssl_certificate ${quote(n.serverCert)};
        ssl_certificate_key ${quote(n.serverKey)};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate ${quote(caFile)};
        ssl_verify_client on;
        ssl_verify_depth 1;
        ssl_crl ${quote(crlFile)};
        client_max_body_size 10m;

        location / {
            if ($byoc_ch_user = "") {
                return 403 "byoc sandbox: no approved access for this certificate\\n";
            }
            # The certificate is the only credential: no client may name another ClickHouse user.
            if ($args ~* "(^|&)(user|password|quota_key)(=|&|$)") {
                return 403 "byoc sandbox: user and password parameters are not accepted\\n";
            }
            # ClickHouse decodes parameter names; an encoded one could smuggle user=.
            if ($args ~ "(^|&)[^=&]*%") {
                return 403 "byoc sandbox: encoded parameter names are not accepted\\n";
            }
            proxy_pass http://clickhouse;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-ClickHouse-User $byoc_ch_user;
            proxy_set_header X-ClickHouse-Key $byoc_ch_key;
            # An empty value drops the header: whatever the client sent never reaches ClickHouse.
            proxy_set_header X-ClickHouse-Quota "";
            proxy_set_header X-ClickHouse-SSL-Certificate-Auth "";
            proxy_set_header Authorization "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
        }
    }

${renderMetricsServer({ paths, metricsPort, prometheusPort, caFile, crlFile })}
    # Local control socket: tells byoc which configuration generation the workers run.
    server {
        listen ${quote(`unix:${n.control}`)};
        access_log off;
        location = /generation {
            return 200 "${generation}\\n";
        }
        location / {
            return 404;
        }
    }
}
`;
}

/**
 * The read endpoints of the Prometheus HTTP API the metrics door passes, the same allowlist byoc calls. Each is
 * an exact location proxied to a fixed upstream path: whatever spelling a client sends (encoded slashes, `..`,
 * double slashes), Prometheus only ever sees one of these paths, and anything else is nginx's 403.
 */
export const METRICS_READ_ENDPOINTS = ['/api/v1/query', '/api/v1/query_range', '/api/v1/series', '/api/v1/labels', '/api/v1/metadata', '/api/v1/status/buildinfo'] as const;

function renderMetricsServer({ paths, metricsPort, prometheusPort, caFile, crlFile }: Pick<NginxConfigInput, 'paths' | 'metricsPort' | 'prometheusPort' | 'caFile' | 'crlFile'>): string {
  const n = paths.nginx;
  const proxy = (upstreamPath: string) => `            limit_except GET POST {
                deny all;
            }
            proxy_pass http://prometheus${upstreamPath}$is_args$args;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1;
            proxy_set_header Authorization "";
            proxy_read_timeout 120s;`;
  const exact = METRICS_READ_ENDPOINTS.map((endpoint) => `        location = ${endpoint} {\n${proxy(endpoint)}\n        }`).join('\n');
  return `    # The metrics door. The certificate's subject must be listed in metrics.map (a request approved with the
    # metrics scope); the request id logged comes from the certificate itself, the X-Byoc-Request header only
    # alongside it (a client could send any header).
    map $ssl_client_s_dn $byoc_metrics_request {
        default "";
        include ${quote(n.metricsMap)};
    }
    map $ssl_client_s_dn $byoc_cert_request {
        default "";
        "~OU=urn:byoc:request:(?<byoc_rid>[0-9a-z-]+)" $byoc_rid;
    }
    log_format byoc_metrics escape=json '{"time":"$time_iso8601","remote":"$remote_addr","method":"$request_method","uri":"$request_uri","path":"$uri","status":$status,"bytes":$body_bytes_sent,"verify":"$ssl_client_verify","dn":"$ssl_client_s_dn","request":"$byoc_cert_request","granted":"$byoc_metrics_request","header":"$http_x_byoc_request"}';

    upstream prometheus {
        server 127.0.0.1:${prometheusPort};
        keepalive 4;
        keepalive_timeout 5s;
    }

    server {
        listen 127.0.0.1:${metricsPort} ssl;
        server_name ${SANDBOX_HOST};
        access_log ${quote(n.metricsLog)} byoc_metrics;
        ssl_certificate ${quote(n.serverCert)};
        ssl_certificate_key ${quote(n.serverKey)};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate ${quote(caFile)};
        ssl_verify_client on;
        ssl_verify_depth 1;
        ssl_crl ${quote(crlFile)};
        client_max_body_size 1m;
        # A slash is part of a path here: never merged or decoded into another endpoint's name.
        merge_slashes off;

        if ($byoc_metrics_request = "") {
            return 403 "byoc sandbox: no approved metrics access for this certificate\\n";
        }
${exact}
        location ~ "^/api/v1/label/(?<byoc_label>[a-zA-Z_][a-zA-Z0-9_]*)/values$" {
${proxy('/api/v1/label/$byoc_label/values')}
        }
        # Admin (/api/v1/admin/*), lifecycle (/-/*), remote write (/api/v1/write) and everything else.
        location / {
            return 403 "byoc sandbox: only the read endpoints of the Prometheus API are open\\n";
        }
    }
`;
}

/** metrics.map: the certificate subject of each grant with the metrics scope, and its request id (logged). */
export function renderMetricsMap(grants: readonly SandboxGrant[]): string {
  const lines = grants
    .filter(grantsMetrics)
    .sort((a, b) => a.requestId.localeCompare(b.requestId))
    .map((grant) => {
      assertMappableIdentity(grant.identity);
      if (!/^[0-9a-z-]+$/.test(grant.requestId)) throw new Error(`unsafe request id ${grant.requestId}`);
      return `"${subjectDnOf(grant)}" ${grant.requestId};`;
    });
  return `# byoc sandbox: certificate subjects allowed through the metrics door (one per request approved with the metrics scope).\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

export interface PrometheusConfigInput {
  prometheusPort: number;
  nodeExporterPort: number;
  /** short, so a test sees samples within seconds of `up` */
  scrapeInterval: string;
}

/**
 * Prometheus scrapes itself and the node exporter. ClickHouse 18.16 has no Prometheus endpoint (it came in
 * 20.1's <prometheus> section; Debian's 18.16 binary has no trace of it), so there is no ClickHouse job.
 */
export function renderPrometheusConfig({ prometheusPort, nodeExporterPort, scrapeInterval }: PrometheusConfigInput): string {
  return `# Written by byoc sandbox up (rewritten on every up).
global:
  scrape_interval: ${scrapeInterval}
  evaluation_interval: ${scrapeInterval}
  external_labels:
    byoc_sandbox: "true"
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:${prometheusPort}"]
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:${nodeExporterPort}"]
`;
}

/**
 * What nginx prints for the engineer's certificate in $ssl_client_s_dn (RFC 2253: the last RDN first). The
 * identity is checked by {@link assertMappableIdentity}, so nothing in it needs RFC 2253 escaping.
 */
function subjectDnOf(grant: Pick<SandboxGrant, 'identity' | 'requestId'>): string {
  return `OU=${requestUrn(grant.requestId)},CN=${grant.identity}`;
}

export function renderUsersMap(grants: readonly SandboxGrant[]): string {
  const lines = [...grants]
    .sort((a, b) => a.requestId.localeCompare(b.requestId))
    .map((grant) => {
      assertMappableIdentity(grant.identity);
      return `"${subjectDnOf(grant)}" ${grant.user};`;
    });
  return `# byoc sandbox: certificate subjects allowed through nginx (one per approved request), and the ClickHouse user each becomes.\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/** user -> password, for the X-ClickHouse-Key nginx sends. Passwords are base64url, so they need no escaping. */
export function renderKeysMap(entries: readonly { user: string; password: string }[]): string {
  const lines = [...entries]
    .sort((a, b) => a.user.localeCompare(b.user))
    .map(({ user, password }) => {
      if (!/^[A-Za-z0-9_-]+$/.test(password) || !/^[a-z0-9_]+$/.test(user)) throw new Error(`unsafe nginx map entry for ${user}`);
      return `${user} "${password}";`;
    });
  return `# byoc sandbox: the password nginx sends for each grant's ClickHouse user (nobody else holds it).\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/**
 * Identities go verbatim into nginx configuration and into a distinguished name nginx prints in RFC 2253 form,
 * where `,+"\<>;=` would be escaped; only plain e-mail-like identities map unambiguously.
 */
function assertMappableIdentity(identity: string): void {
  if (!/^[A-Za-z0-9._@-]{1,200}$/.test(identity)) {
    throw new UsageError('identity_not_mappable', `the identity "${identity}" cannot be mapped to a sandbox user`, {
      hint: 'Use an identity of at most 200 letters, digits and . _ @ - (e.g. alice@vendor.example).',
    });
  }
}

function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xmlComment(value: string): string {
  return xmlText(value).replace(/--/g, '- -');
}

function hex(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new Error('expected a SHA-256 hex digest');
  return value;
}

/** nginx string syntax: double quotes, with " and \\ escaped. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
