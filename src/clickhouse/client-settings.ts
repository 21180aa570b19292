import type { ProxyKind } from '../net/network.js';

/**
 * What another tool needs to reach a service's ClickHouse as the engineer's grant, the way byoc itself does:
 * the grant's certificate and key, the server's CA, the grant's server user, and the route (a resolve override,
 * the configured proxy).
 */
export interface ClientSettings {
  service: string;
  requestId: string;
  /** the grant's own server user, which the certificate authenticates (X-ClickHouse-User on current ClickHouse) */
  serverUser: string;
  url: string;
  certFile: string;
  keyFile: string;
  /** the CA that signed the server's certificate (services.<name>.clickhouse.caFile); absent: the system's roots */
  serverCaFile?: string | undefined;
  notAfter: string;
  route: {
    host: string;
    port: number;
    /** the IP a resolve override (network.resolve, or the sandbox's) gives the host */
    address?: string | undefined;
    /** network.proxy, as configured (an environment proxy is left to curl, which reads the same variables) */
    proxy?: { url: string; kind: ProxyKind } | undefined;
  };
  /** the secure native-protocol endpoint, for clickhouse-client (the HTTP URL's host, services.<name>.clickhouse.nativePort) */
  native: { host: string; port: number };
}

/**
 * The shell's variables. None is a byoc setting's variable (BYOC_SERVICE, BYOC_REQUEST ... would change what byoc
 * itself does in that shell): a test holds them apart.
 */
function environmentOf(settings: ClientSettings): [string, string][] {
  return [
    ['BYOC_CLICKHOUSE_URL', settings.url],
    ['BYOC_CLICKHOUSE_USER', settings.serverUser],
    ['BYOC_CERT_FILE', settings.certFile],
    ['BYOC_KEY_FILE', settings.keyFile],
    ...(settings.serverCaFile ? [['BYOC_SERVER_CA_FILE', settings.serverCaFile] as [string, string]] : []),
    ...(settings.route.address ? [['BYOC_RESOLVE', `${settings.route.host}:${settings.route.port}:${settings.route.address}`] as [string, string]] : []),
    ['BYOC_GRANT_REQUEST', settings.requestId],
    ['BYOC_GRANT_NOT_AFTER', settings.notAfter],
  ];
}

/** `export NAME=value` lines a POSIX shell evaluates (`eval "$(byoc cert env SERVICE)"`). */
export function environmentScript(settings: ClientSettings): string {
  const lines = environmentOf(settings).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
  return `# ${settings.service}: request ${settings.requestId}, certificate valid until ${settings.notAfter}\n${lines.join('\n')}\n`;
}

/**
 * curl's flags for the service, URL last. A resolve override is `--resolve` on a direct path; through a proxy it
 * is `--connect-to`, because curl hands an HTTP proxy the name (CONNECT host:port) and ignores `--resolve` there,
 * while byoc's rule is that an override beats the proxy's own resolution (src/net/network.ts). A socks5h proxy
 * would also resolve the name itself, so with an override it is given as socks5 (curl then connects to the
 * override's address). TLS is checked against the name either way.
 */
function curlArguments(settings: ClientSettings): string[] {
  const { route } = settings;
  const args = ['--cert', settings.certFile, '--key', settings.keyFile];
  if (settings.serverCaFile) args.push('--cacert', settings.serverCaFile);
  if (route.proxy) {
    const proxy = route.address && route.proxy.kind === 'socks5h' ? route.proxy.url.replace(/^socks5h:/i, 'socks5:') : route.proxy.url;
    args.push('--proxy', proxy);
    if (route.address) args.push('--connect-to', `${route.host}:${route.port}:${route.address}:${route.port}`);
  } else if (route.address) {
    args.push('--resolve', `${route.host}:${route.port}:${route.address}`);
  }
  // No spaces anywhere (no user agent naming the request, as byoc sends): the flags stay whole words when a shell
  // splits `$(byoc cert env ... --format curl)`. The grant's server user is what the customer's audit reads anyway.
  args.push('-H', `X-ClickHouse-User:${settings.serverUser}`, '-H', 'X-ClickHouse-SSL-Certificate-Auth:on', settings.url);
  return args;
}

/** curl's flags as one line for a shell: quoted only where a word needs it, so `$(...)` works for plain paths. */
export function curlLine(settings: ClientSettings): string {
  return `${curlArguments(settings).map(shellWord).join(' ')}\n`;
}

/**
 * A clickhouse-client configuration (XML, as `clickhouse-client --config-file` reads it; the same keys as
 * `tsh db config` points at): the native protocol over TLS with the grant's certificate and key, the server's CA,
 * strict verification, and the grant's user. clickhouse-client speaks the native protocol only, so it neither
 * goes through byoc's guard nor through an HTTP proxy: the server's read-only user is what holds there.
 */
export function clickhouseClientConfig(settings: ClientSettings): string {
  const { route, native } = settings;
  // The name, not an override's address: the server's certificate is checked against the name.
  const override = route.address && native.host === route.host ? [`<!-- byoc resolves ${xml(route.host)} to ${xml(route.address)} (network.resolve): clickhouse-client uses this machine's resolver, so MagicDNS or /etc/hosts must do the same. -->`] : [];
  const lines = [
    '<?xml version="1.0"?>',
    // (an XML comment may not hold two dashes in a row: no flags in it)
    `<!-- A clickhouse-client config file from byoc cert env for ${xml(settings.service).replaceAll('--', '- -')}: request ${xml(settings.requestId)}, certificate valid until ${xml(settings.notAfter)}. -->`,
    '<!-- The native protocol does not pass through byoc\'s SQL guard; the server\'s read-only user applies. -->',
    ...override,
    '<config>',
    `    <host>${xml(native.host)}</host>`,
    `    <port>${native.port}</port>`,
    '    <secure>true</secure>',
    `    <user>${xml(settings.serverUser)}</user>`,
    '    <openSSL>',
    '        <client>',
    `            <certificateFile>${xml(settings.certFile)}</certificateFile>`,
    `            <privateKeyFile>${xml(settings.keyFile)}</privateKeyFile>`,
    ...(settings.serverCaFile ? [`            <caConfig>${xml(settings.serverCaFile)}</caConfig>`, '            <loadDefaultCAFile>false</loadDefaultCAFile>'] : ['            <loadDefaultCAFile>true</loadDefaultCAFile>']),
    '            <verificationMode>strict</verificationMode>',
    '            <invalidCertificateHandler>',
    '                <name>RejectCertificateHandler</name>',
    '            </invalidCertificateHandler>',
    '        </client>',
    '    </openSSL>',
    '</config>',
  ];
  return `${lines.join('\n')}\n`;
}

/** POSIX single quotes: everything literal, a quote itself as '\''. One rule; not worth a dependency. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A word as is when a shell would read it unchanged, else quoted. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(value) ? value : shellQuote(value);
}

function xml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}
