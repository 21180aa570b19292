import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sandboxPaths } from '../../../src/sandbox/layout.js';
import {
  grantFor,
  grantOfUsersFile,
  renderClickhouseConfig,
  renderGrantUserXml,
  grantsClickhouse,
  grantsMetrics,
  METRICS_READ_ENDPOINTS,
  renderKeysMap,
  renderMetricsMap,
  renderNginxConfig,
  renderPrometheusConfig,
  renderUsersMap,
  renderUsersXml,
  type SandboxGrant,
} from '../../../src/sandbox/render.js';

const paths = sandboxPaths('/state');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const approved = { id: 'r-0k3j9x2m1q', requester: 'alice@vendor.example', service: 'sandbox', notAfter: '2026-11-21T12:00:00.000Z' };
const nginxInput = { paths, port: 8443, clickhouseHttpPort: 8123, metricsPort: 9443, prometheusPort: 9090, caFile: '/state/broker/ca/ca.crt', crlFile: '/state/sandbox/nginx/crl.pem', runAsRoot: false, generation: 'g1' };

/** The text of every `<tag>...</tag>` in an XML document (enough for these flat, byoc-written files). */
const elements = (xml: string, tag: string) => [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((match) => match[1]);

describe('the ClickHouse 18.16 server configuration', () => {
  it('listens on loopback only, on the chosen ports, with everything under the sandbox folder', () => {
    // Given the chosen ports / When the configuration is rendered
    const xml = renderClickhouseConfig({ paths, httpPort: 41001, tcpPort: 41002 });
    // Then it has one listen_host, 127.0.0.1, and ClickHouse 18.16's <yandex> root
    expect(xml).toMatch(/<yandex>[\s\S]*<\/yandex>/);
    expect(elements(xml, 'listen_host')).toEqual(['127.0.0.1']);
    expect(elements(xml, 'http_port')).toEqual(['41001']);
    expect(elements(xml, 'tcp_port')).toEqual(['41002']);
    for (const tag of ['path', 'tmp_path', 'user_files_path', 'format_schema_path', 'log', 'errorlog']) {
      expect(elements(xml, tag)[0], tag).toMatch(/^\/state\/sandbox\/clickhouse\//);
    }
    expect(elements(xml, 'users_config')).toEqual(['users.xml']);
  });

  it('keeps a query_log flushed every second', () => {
    // Given / When
    const xml = renderClickhouseConfig({ paths, httpPort: 1, tcpPort: 2 });
    // Then
    expect(xml).toMatch(/<query_log>\s*<database>system<\/database>\s*<table>query_log<\/table>[\s\S]*<flush_interval_milliseconds>1000<\/flush_interval_milliseconds>/);
  });

  it('escapes XML in paths', () => {
    // Given a state folder with & and < in its name / When rendered / Then they are entities
    const xml = renderClickhouseConfig({ paths: sandboxPaths('/tmp/a&b<c'), httpPort: 1, tcpPort: 2 });
    expect(elements(xml, 'path')).toEqual(['/tmp/a&amp;b&lt;c/sandbox/clickhouse/data/']);
  });
});

describe('the users configuration', () => {
  const xml = renderUsersXml({ defaultPasswordSha256: sha('secret-default'), customerPasswordSha256: sha('secret-customer') });

  it('logs every query of every profile', () => {
    // Given the rendered users.xml / Then each profile has log_queries 1
    const profiles = /<profiles>([\s\S]*)<\/profiles>/.exec(xml)![1]!;
    expect(profiles.match(/<log_queries>1<\/log_queries>/g)).toHaveLength(2);
    expect(profiles).toContain('<default>');
    expect(profiles).toContain('<byoc_readonly>');
  });

  it('makes the engineers profile readonly 1, so no setting (log_queries included) can be changed per query', () => {
    const profile = /<byoc_readonly>([\s\S]*?)<\/byoc_readonly>/.exec(xml)![1]!;
    expect(elements(profile, 'readonly')).toEqual(['1']);
  });

  it('closes the default user with a password and loopback networks, and gives customer_admin its own password', () => {
    const users = /<users>([\s\S]*)<\/users>/.exec(xml)![1]!;
    const defaultUser = /<default>([\s\S]*?)<\/default>/.exec(users)![1]!;
    const customer = /<customer_admin>([\s\S]*?)<\/customer_admin>/.exec(users)![1]!;
    expect(elements(defaultUser, 'password_sha256_hex')).toEqual([sha('secret-default')]);
    expect(elements(defaultUser, 'ip')).toEqual(['::1', '127.0.0.1']);
    expect(defaultUser).not.toMatch(/<password>/);
    expect(elements(customer, 'password_sha256_hex')).toEqual([sha('secret-customer')]);
    expect(elements(customer, 'profile')).toEqual(['default']);
  });

  it('refuses a digest that is not SHA-256 hex', () => {
    expect(() => renderUsersXml({ defaultPasswordSha256: 'plain', customerPasswordSha256: sha('x') })).toThrow(/SHA-256/);
  });
});

describe("a grant's users.d file", () => {
  const grant = grantFor(approved);

  it('creates a user per request, loopback-only, read-only, system database only, with a password hash', () => {
    // Given an approved request / When rendered
    const xml = renderGrantUserXml(grant, sha('nginx-only'));
    // Then
    expect(grant.user).toBe('byoc_r_0k3j9x2m1q_alice_40vendor_2eexample');
    const user = new RegExp(`<${grant.user}>([\\s\\S]*?)</${grant.user}>`).exec(xml)![1]!;
    expect(user).not.toMatch(/<password>/);
    expect(elements(user, 'password_sha256_hex')).toEqual([sha('nginx-only')]);
    expect(elements(user, 'ip')).toEqual(['127.0.0.1']);
    expect(elements(user, 'profile')).toEqual(['byoc_readonly']);
    expect(elements(user, 'quota')).toEqual(['default']);
    expect(elements(user, 'database')).toEqual(['system']);
  });

  it('records the grant it was written for, and never the password', () => {
    expect(grantOfUsersFile(renderGrantUserXml({ ...grant, password: 'secret' } as typeof grant, sha('secret')))).toEqual(grant);
    expect(renderGrantUserXml({ ...grant, password: 'secret' } as typeof grant, sha('secret'))).not.toContain('"secret"');
    expect(grantOfUsersFile('<yandex/>')).toBeUndefined();
  });

  it('keeps an identity with -- exact while the XML comment stays valid', () => {
    const odd = grantFor({ ...approved, requester: 'a--b@vendor.example' });
    const xml = renderGrantUserXml(odd, sha('x'));
    expect(xml.split('\n').filter((line) => line.startsWith('<!--')).every((line) => !line.slice(4, -3).includes('--'))).toBe(true);
    expect(grantOfUsersFile(xml)?.identity).toBe('a--b@vendor.example');
  });

  it('refuses identities that cannot be put verbatim into a distinguished name or nginx configuration', () => {
    for (const requester of ['alice"@x', 'a b@x', 'CN=x,O=y', 'a;b', '']) {
      expect(() => grantFor({ ...approved, requester }), requester).toThrow(expect.objectContaining({ code: 'identity_not_mappable' }));
    }
  });
});

describe('the nginx users.map and keys.map includes', () => {
  it('has one sorted line per grant, keyed by the whole subject with its request, never the CN alone', () => {
    // Given two grants of the same engineer / When rendered
    const text = renderUsersMap([grantFor({ ...approved, id: 'r-zzzzzzzzzz' }), grantFor(approved)]);
    // Then
    expect(text.split('\n').filter((line) => !line.startsWith('#'))).toEqual([
      '"OU=urn:byoc:request:r-0k3j9x2m1q,CN=alice@vendor.example" byoc_r_0k3j9x2m1q_alice_40vendor_2eexample;',
      '"OU=urn:byoc:request:r-zzzzzzzzzz,CN=alice@vendor.example" byoc_r_zzzzzzzzzz_alice_40vendor_2eexample;',
      '',
    ]);
    expect(renderUsersMap([]).split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([]);
  });

  it('maps each grant user to its password, and refuses a value that would need escaping', () => {
    expect(renderKeysMap([{ user: 'byoc_r_a_b', password: 'AbC-_1' }])).toContain('byoc_r_a_b "AbC-_1";');
    expect(() => renderKeysMap([{ user: 'byoc_r_a_b', password: 'a"; default x' }])).toThrow(/unsafe/);
  });
});

describe('the nginx configuration', () => {
  const conf = renderNginxConfig(nginxInput);

  it('requires a client certificate issued directly by the broker CA', () => {
    expect(conf).toContain('listen 127.0.0.1:8443 ssl;');
    expect(conf).toContain('ssl_client_certificate "/state/broker/ca/ca.crt";');
    expect(conf).toContain('ssl_verify_client on;');
    expect(conf).toContain('ssl_verify_depth 1;');
    expect(conf).toContain('server_name ch.sandbox.byoc.internal;');
  });

  it('checks the broker CRL', () => {
    expect(conf).toContain('ssl_crl "/state/sandbox/nginx/crl.pem";');
  });

  it('maps the certificate subject through users.map, the user to its password, and refuses an unmapped one itself', () => {
    expect(conf).toMatch(/map \$ssl_client_s_dn \$byoc_ch_user \{\s*default "";\s*include "\/state\/sandbox\/nginx\/users\.map";\s*\}/);
    expect(conf).toMatch(/map \$byoc_ch_user \$byoc_ch_key \{\s*default "";\s*include "\/state\/sandbox\/nginx\/keys\.map";\s*\}/);
    expect(conf).toMatch(/if \(\$byoc_ch_user = ""\) \{\s*return 403/);
  });

  it('decides the ClickHouse user itself and drops every credential a client could send', () => {
    expect(conf).toContain('proxy_set_header X-ClickHouse-User $byoc_ch_user;');
    expect(conf).toContain('proxy_set_header X-ClickHouse-Key $byoc_ch_key;');
    for (const header of ['X-ClickHouse-Quota', 'Authorization']) expect(conf).toContain(`proxy_set_header ${header} "";`);
    expect(conf).toMatch(/if \(\$args ~\* "\(\^\|&\)\(user\|password\|quota_key\)\(=\|&\|\$\)"\) \{\s*return 403/);
  });

  it('forwards to ClickHouse on loopback and streams both ways', () => {
    expect(conf).toContain('server 127.0.0.1:8123;');
    expect(conf).toContain('proxy_buffering off;');
    expect(conf).toContain('proxy_request_buffering off;');
  });

  it('keeps pid, logs and temp folders in the sandbox, and names the generation on the control socket', () => {
    expect(conf).toContain('pid "/state/sandbox/nginx/nginx.pid";');
    expect(conf).toContain('error_log "/state/sandbox/nginx/logs/error.log" warn;');
    expect(conf).toContain('client_body_temp_path "/state/sandbox/nginx/temp/client_body";');
    expect(conf).toContain('listen "unix:/state/sandbox/nginx/control.sock";');
    expect(conf).toContain('return 200 "g1\\n";');
  });

  it('runs workers as root only when started by root', () => {
    expect(conf).not.toMatch(/^user /m);
    expect(renderNginxConfig({ ...nginxInput, runAsRoot: true })).toMatch(/^user root;$/m);
  });
});

describe('the metrics door (nginx in front of Prometheus)', () => {
  const conf = renderNginxConfig(nginxInput);
  const door = conf.slice(conf.indexOf('listen 127.0.0.1:9443 ssl;'), conf.indexOf('# Local control socket'));

  it('listens on its own loopback port with the same mutual TLS and CRL as the ClickHouse door', () => {
    // Given the rendered configuration / Then the metrics server block checks the broker CA and CRL
    expect(door).toContain('ssl_client_certificate "/state/broker/ca/ca.crt";');
    expect(door).toContain('ssl_verify_client on;');
    expect(door).toContain('ssl_crl "/state/sandbox/nginx/crl.pem";');
    expect(door).toContain('access_log "/state/sandbox/nginx/logs/metrics.log" byoc_metrics;');
    expect(conf).toContain('server 127.0.0.1:9090;');
    expect(conf).toContain('include "/state/sandbox/nginx/metrics.map";');
  });

  it('refuses a certificate not in metrics.map before any location is chosen', () => {
    expect(door).toMatch(/if \(\$byoc_metrics_request = ""\) \{\s+return 403/);
  });

  it('proxies each read endpoint to that fixed upstream path only, and nothing else', () => {
    // Then every allowlisted endpoint is an exact location proxied to its own path (user input only in $args)
    const passes = [...door.matchAll(/proxy_pass (\S+);/g)].map((match) => match[1]);
    expect(passes).toEqual([...METRICS_READ_ENDPOINTS.map((endpoint) => `http://prometheus${endpoint}$is_args$args`), 'http://prometheus/api/v1/label/$byoc_label/values$is_args$args']);
    for (const endpoint of METRICS_READ_ENDPOINTS) expect(door).toContain(`location = ${endpoint} {`);
    // And a label name can only be letters, digits and underscores (no slash, dot or percent sign)
    expect(door).toContain('location ~ "^/api/v1/label/(?<byoc_label>[a-zA-Z_][a-zA-Z0-9_]*)/values$"');
    // And only GET and POST, no slash merging, and everything else is nginx's 403
    expect(door.match(/limit_except GET POST/g)).toHaveLength(METRICS_READ_ENDPOINTS.length + 1);
    expect(door).toContain('merge_slashes off;');
    expect(door).toMatch(/location \/ \{\s+return 403 "byoc sandbox: only the read endpoints/);
    expect(METRICS_READ_ENDPOINTS.some((endpoint) => /admin|write|\/-\//.test(endpoint))).toBe(false);
  });

  it("logs the certificate's request id and the X-Byoc-Request header as one JSON object per call", () => {
    const format = /log_format byoc_metrics escape=json '(.*)';/.exec(conf)![1]!;
    const sample = format.replace(/\$[a-z_]+/g, (name) => (name === '$status' || name === '$body_bytes_sent' ? '200' : 'x'));
    expect(Object.keys(JSON.parse(sample))).toEqual(['time', 'remote', 'method', 'uri', 'path', 'status', 'bytes', 'verify', 'dn', 'request', 'granted', 'header']);
    expect(conf).toContain('"~OU=urn:byoc:request:(?<byoc_rid>[0-9a-z-]+)" $byoc_rid;');
  });

  it('maps only grants with the metrics scope; ClickHouse users only for grants with the clickhouse scope', () => {
    // Given three grants: metrics only, clickhouse only, and both
    const metricsOnly = grantFor({ ...approved, id: 'r-aaaaaaaaaa', scopes: ['metrics'] });
    const clickhouseOnly = grantFor({ ...approved, id: 'r-bbbbbbbbbb', scopes: ['clickhouse'] });
    const both = grantFor({ ...approved, id: 'r-cccccccccc', scopes: ['clickhouse', 'metrics'] });
    // When metrics.map is rendered / Then only the two with metrics are in it, keyed by subject, naming the request
    const lines = renderMetricsMap([clickhouseOnly, both, metricsOnly]).split('\n').filter((line) => line && !line.startsWith('#'));
    expect(lines).toEqual([
      '"OU=urn:byoc:request:r-aaaaaaaaaa,CN=alice@vendor.example" r-aaaaaaaaaa;',
      '"OU=urn:byoc:request:r-cccccccccc,CN=alice@vendor.example" r-cccccccccc;',
    ]);
    expect([metricsOnly, clickhouseOnly, both].map(grantsClickhouse)).toEqual([false, true, true]);
    expect([metricsOnly, clickhouseOnly, both].map(grantsMetrics)).toEqual([true, false, true]);
    // And a grant written before scopes were recorded stays a ClickHouse grant, without metrics
    const { scopes: _scopes, ...rest } = clickhouseOnly;
    const legacy: SandboxGrant = rest;
    expect([grantsClickhouse(legacy), grantsMetrics(legacy)]).toEqual([true, false]);
  });
});

describe('the Prometheus configuration', () => {
  it('scrapes Prometheus itself and the node exporter on loopback, at the given interval (ClickHouse 18.16 has no endpoint)', () => {
    const yaml = renderPrometheusConfig({ prometheusPort: 9090, nodeExporterPort: 9100, scrapeInterval: '2s' });
    expect(yaml).toContain('scrape_interval: 2s');
    expect(yaml).toContain('- job_name: prometheus\n    static_configs:\n      - targets: ["127.0.0.1:9090"]');
    expect(yaml).toContain('- job_name: node\n    static_configs:\n      - targets: ["127.0.0.1:9100"]');
    expect(yaml).not.toMatch(/clickhouse/i);
  });
});
