import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sandboxPaths } from '../../../src/sandbox/layout.js';
import {
  grantFor,
  grantOfUsersFile,
  renderClickhouseConfig,
  renderGrantUserXml,
  renderKeysMap,
  renderNginxConfig,
  renderUsersMap,
  renderUsersXml,
} from '../../../src/sandbox/render.js';

const paths = sandboxPaths('/state');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const approved = { id: 'r-0k3j9x2m1q', requester: 'alice@vendor.example', service: 'sandbox', notAfter: '2026-11-21T12:00:00.000Z' };
const nginxInput = { paths, port: 8443, clickhouseHttpPort: 8123, caFile: '/state/broker/ca/ca.crt', crlFile: '/state/sandbox/nginx/crl.pem', runAsRoot: false, generation: 'g1' };

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
