/**
 * The network layer every remote call of byoc goes through: which proxy applies to a target, how names
 * resolve (the `network.resolve` overrides, like a Kubernetes hostAliases entry, for tailnet names that
 * MagicDNS does not resolve on this machine), and the http(s) Agent that puts both together.
 *
 * Decisions, in one place:
 * - Proxy precedence: `network.proxy` (config) > environment (`HTTPS_PROXY`/`HTTP_PROXY` by target scheme,
 *   then `ALL_PROXY`; the lower-case spelling wins over the upper-case one, as in curl). The configured
 *   proxy applies to every target: it is an explicit choice, so neither NO_PROXY nor the loopback bypass
 *   applies to it. Environment proxies are skipped for NO_PROXY matches and for loopback targets (a
 *   proxy cannot reach this machine's loopback), including names whose override points at loopback.
 * - A resolve override beats resolution by the proxy: an overridden name is sent to any proxy (SOCKS5,
 *   SOCKS5h or HTTP CONNECT) as its override IP, with the TLS servername kept as the original name so the
 *   certificate is still checked against the name the user asked for. The override is the user's explicit
 *   statement of where the name lives; a proxy resolving the name itself could reach another address
 *   (public DNS, split-horizon DNS) or fail, exactly the situation the override exists for.
 * - Names without an override: `socks5h://` and `http(s)://` proxies receive the name and resolve it
 *   themselves (tailscaled resolves tailnet names); `socks5://` means byoc resolves locally first.
 * - TLS verification is never off unless a caller passes `rejectUnauthorized: false` explicitly.
 */
import { EventEmitter } from 'node:events';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import type { HttpsProxyAgent } from 'https-proxy-agent';
import type { SocksProxyAgent } from 'socks-proxy-agent';
import { ConfigError } from '../errors.js';
import { ProxyFailure, socksReplyOf, watchAnswers } from './failure.js';

type NetworkEnv = Readonly<Record<string, string | undefined>>;

export interface NetworkOptions {
  /** `network.proxy`: socks5://, socks5h://, http:// or https:// */
  proxy?: string | undefined;
  /** `network.resolve`: hostname -> IP address */
  resolve?: Readonly<Record<string, string>> | undefined;
  /** The process environment, passed in: proxies come from it when `proxy` is not set. */
  env: NetworkEnv;
  /** The system resolver for names without an override (default `dns.lookup`); tests pass a fake. */
  dnsLookup?: LookupFunction | undefined;
}

export type ProxyKind = 'socks5' | 'socks5h' | 'http' | 'https';

export interface ProxyChoice {
  /** The proxy URL as used to connect (it may carry credentials: print `redactProxyUrl(url)`). */
  url: string;
  kind: ProxyKind;
  source: 'config' | 'env';
  /** Where it came from: `network.proxy` or the environment variable's name. */
  from: string;
}

export interface ConnectionOptions {
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  cert?: string | Buffer | Array<string | Buffer> | undefined;
  key?: string | Buffer | Array<string | Buffer> | undefined;
  /** The name sent as SNI and checked against the certificate (default: the URL's host name). */
  servername?: string | undefined;
  /** Defaults to true. Only an explicit false turns verification off. */
  rejectUnauthorized?: boolean | undefined;
  /**
   * Node's option: a certificate in `ca` is a trust anchor even when it is not a CA's own (self-signed) one, so a
   * pinned server certificate is trusted by itself (`byoc broker trust`). The chain up to it is still verified.
   */
  allowPartialTrustChain?: boolean | undefined;
  keepAlive?: boolean | undefined;
}

type ResolvedVia = 'override' | 'dns' | 'proxy' | 'literal';

export interface RouteDescription {
  host: string;
  port: number;
  /** override: from network.resolve; dns: this machine's resolver; proxy: the proxy resolves; literal: an IP URL */
  resolvedVia: ResolvedVia;
  /** The address the route leads to when it is known without a lookup (override or literal). */
  address?: string;
  /** The proxy, credentials removed. */
  proxy?: string;
  proxySource?: 'config' | 'env';
  proxyFrom?: string;
}

const PROXY_KINDS: readonly ProxyKind[] = ['socks5', 'socks5h', 'http', 'https'];

/** The host of a URL as sockets want it: no IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

export function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** Host names compare case-insensitively and a trailing dot (fully qualified form) means the same name. */
export function normalizeHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

interface Override {
  address: string;
  family: 4 | 6;
}

function overrideTable(resolve: NetworkOptions['resolve']): Map<string, Override> {
  const table = new Map<string, Override>();
  for (const [name, address] of Object.entries(resolve ?? {})) {
    const family = net.isIP(address);
    if (family !== 4 && family !== 6) {
      throw new ConfigError('config_invalid', `network.resolve.${name}: "${address}" is not an IPv4 or IPv6 address`, {
        hint: `Map each host name to an IP address, e.g. network.resolve: { ${name}: 100.64.0.7 }`,
      });
    }
    table.set(normalizeHost(name), { address, family });
  }
  return table;
}

function overrideFor(host: string, resolve: NetworkOptions['resolve']): Override | undefined {
  return overrideTable(resolve).get(normalizeHost(host));
}

type LookupCallback = Parameters<LookupFunction>[2];

/**
 * A `dns.lookup`-compatible function (usable as the `lookup` option of net, tls, http and https) that
 * answers from the override map first and falls back to the system resolver.
 */
export function lookupWithOverrides(
  resolve: NetworkOptions['resolve'],
  fallback: LookupFunction = dns.lookup,
): LookupFunction {
  const table = overrideTable(resolve);
  return function lookup(
    hostname: string,
    optionsOrCallback: dns.LookupOptions | number | LookupCallback,
    maybeCallback?: LookupCallback,
  ): void {
    const callback = (typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback) as LookupCallback;
    const options: dns.LookupOptions =
      typeof optionsOrCallback === 'number'
        ? { family: optionsOrCallback }
        : typeof optionsOrCallback === 'object' && optionsOrCallback !== null
          ? optionsOrCallback
          : {};
    const literalFamily = net.isIP(hostname);
    // An address needs no resolver (dns.lookup answers it the same way, without a query).
    const override =
      literalFamily === 4 || literalFamily === 6
        ? { address: hostname, family: literalFamily }
        : table.get(normalizeHost(hostname));
    if (!override) {
      fallback(hostname, options, callback);
      return;
    }
    const wanted = familyNumber(options.family);
    // Like an /etc/hosts entry: asking for the other address family finds nothing.
    queueMicrotask(() => {
      if (wanted !== 0 && wanted !== override.family) {
        const error: NodeJS.ErrnoException = new Error(
          `getaddrinfo ENOTFOUND ${hostname} (it has an IPv${override.family} address only)`,
        );
        error.code = 'ENOTFOUND';
        callback(error, options.all ? [] : '', undefined);
      } else if (options.all) {
        callback(null, [{ address: override.address, family: override.family }]);
      } else {
        callback(null, override.address, override.family);
      }
    });
  };
}

function familyNumber(family: dns.LookupOptions['family']): number {
  if (family === 'IPv4' || family === 4) return 4;
  if (family === 'IPv6' || family === 6) return 6;
  return 0;
}

/** Resolve a name through the overrides (then the system resolver): every address, in resolver order. */
export function resolveHost(
  host: string,
  options: Pick<NetworkOptions, 'resolve' | 'dnsLookup'>,
): Promise<{ addresses: string[]; source: 'override' | 'dns' | 'literal' }> {
  if (net.isIP(host)) return Promise.resolve({ addresses: [host], source: 'literal' });
  const source = overrideFor(host, options.resolve) ? 'override' : 'dns';
  const lookup = lookupWithOverrides(options.resolve, options.dnsLookup);
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve({ addresses: (addresses as dns.LookupAddress[]).map((entry) => entry.address), source });
    });
  });
}

function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = net.isIP(bare);
  if (family === 0) return false;
  // A valid IPv4 address has no leading zeros (net.isIP): 127.0.0.0/8 is its first octet. Said without a
  // BlockList, whose module and binding would load for it on every run with a resolve override.
  if (family === 4) return bare.startsWith('127.');
  // BlockList compares bytes, so ::ffff:127.0.0.1 (an IPv4-mapped address) matches the IPv4 range too.
  const loopback = new net.BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return loopback.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** localhost, 127.0.0.0/8, ::1, or a name whose resolve override points at one of those. */
export function isLoopbackTarget(host: string, resolve?: NetworkOptions['resolve']): boolean {
  const name = normalizeHost(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isLoopbackAddress(name)) return true;
  const override = overrideFor(name, resolve);
  return override !== undefined && isLoopbackAddress(override.address);
}

function firstSet(env: NetworkEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/**
 * NO_PROXY semantics (curl's, plus CIDR ranges): comma- or space-separated entries; `*` matches every
 * host; a name matches itself and its subdomains (a leading `.` or `*.` is ignored); an IP address or
 * CIDR range matches the URL's IP literal or the name's override address; `:port` restricts an entry.
 */
export function matchesNoProxy(url: URL, noProxy: string, resolve?: NetworkOptions['resolve']): boolean {
  const host = normalizeHost(hostOf(url));
  const port = portOf(url);
  const addresses = [net.isIP(host) ? host : overrideFor(host, resolve)?.address].filter(
    (address): address is string => address !== undefined,
  );
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const parsed = parseNoProxyEntry(entry);
    if (parsed.port !== undefined && parsed.port !== port) continue;
    if (parsed.subnet) {
      const { base, prefix, family } = parsed.subnet;
      const list = new net.BlockList();
      try {
        list.addSubnet(base, prefix, family === 4 ? 'ipv4' : 'ipv6');
      } catch {
        continue;
      }
      if (addresses.some((address) => net.isIP(address) === family && list.check(address, family === 4 ? 'ipv4' : 'ipv6'))) {
        return true;
      }
      continue;
    }
    const name = parsed.host.replace(/^\*?\./, '').replace(/\.$/, '');
    if (!name) continue;
    if (net.isIP(name)) {
      if (addresses.some((address) => sameAddress(address, name))) return true;
      continue;
    }
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

function sameAddress(a: string, b: string): boolean {
  const family = net.isIP(a);
  if (family === 0 || family !== net.isIP(b)) return false;
  const list = new net.BlockList();
  list.addAddress(b, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

interface NoProxyEntry {
  host: string;
  port?: number;
  subnet?: { base: string; prefix: number; family: 4 | 6 };
}

function parseNoProxyEntry(entry: string): NoProxyEntry {
  let host = entry;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
  } else if (!net.isIPv6(entry.split('/')[0]!)) {
    const withPort = /^(.*):(\d+)$/.exec(entry);
    if (withPort) {
      host = withPort[1]!;
      port = Number(withPort[2]);
    }
  }
  const cidr = /^(.+)\/(\d{1,3})$/.exec(host);
  if (cidr) {
    const family = net.isIP(cidr[1]!);
    if (family === 4 || family === 6) {
      return { host, port, subnet: { base: cidr[1]!, prefix: Number(cidr[2]), family } };
    }
  }
  return port === undefined ? { host } : { host, port };
}

function parseProxyUrl(raw: string, source: 'config' | 'env', from: string): ProxyChoice {
  // curl reads a scheme-less environment proxy (HTTPS_PROXY=proxy:3128) as http://
  const text = source === 'env' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? `http://${raw}` : raw;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('proxy_invalid', `${from}: "${redactProxyUrl(raw)}" is not a URL`, {
      hint: proxyHint(source, from),
    });
  }
  const kind = url.protocol.replace(/:$/, '') as ProxyKind;
  if (!PROXY_KINDS.includes(kind) || !url.hostname) {
    throw new ConfigError(
      'proxy_invalid',
      `${from}: "${redactProxyUrl(raw)}" is not a supported proxy URL (socks5://, socks5h://, http:// or https://)`,
      { hint: proxyHint(source, from) },
    );
  }
  return { url: url.href, kind, source, from };
}

function proxyHint(source: 'config' | 'env', from: string): string {
  return source === 'config'
    ? 'Set network.proxy to a URL such as socks5h://127.0.0.1:1055 (tailscaled userspace networking), or remove it.'
    : `Fix or unset ${from}, or set network.proxy in the byoc configuration (it takes precedence over the environment).`;
}

/** The proxy a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: URL, options: NetworkOptions): ProxyChoice | undefined {
  if (options.proxy) return parseProxyUrl(options.proxy, 'config', 'network.proxy');
  const host = hostOf(url);
  if (isLoopbackTarget(host, options.resolve)) return undefined;
  const env = options.env;
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  if (noProxy && matchesNoProxy(url, noProxy.value, options.resolve)) return undefined;
  // HTTP_PROXY is read in upper case too: byoc is never a CGI program, where that spelling is unsafe.
  const byScheme =
    url.protocol === 'https:'
      ? ['https_proxy', 'HTTPS_PROXY']
      : url.protocol === 'http:'
        ? ['http_proxy', 'HTTP_PROXY']
        : [];
  const chosen = firstSet(env, [...byScheme, 'all_proxy', 'ALL_PROXY']);
  return chosen ? parseProxyUrl(chosen.value, 'env', chosen.name) : undefined;
}

/** A proxy URL fit to print: the password is replaced. */
export function redactProxyUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return raw.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}

/** Where a request to `url` goes, for --verbose and diagnostics. Never performs a lookup. */
export function describeRoute(url: URL, options: NetworkOptions): RouteDescription {
  const host = hostOf(url);
  const proxy = proxyFor(url, options);
  const override = overrideFor(host, options.resolve);
  const resolvedVia: ResolvedVia = net.isIP(host)
    ? 'literal'
    : override
      ? 'override'
      : proxy && proxy.kind !== 'socks5'
        ? 'proxy'
        : 'dns';
  const address = net.isIP(host) ? host : override?.address;
  return {
    host,
    port: portOf(url),
    resolvedVia,
    ...(address === undefined ? {} : { address }),
    ...(proxy ? { proxy: redactProxyUrl(proxy.url), proxySource: proxy.source, proxyFrom: proxy.from } : {}),
  };
}

type TlsConnectionOptions = Omit<ConnectionOptions, 'keepAlive'>;

/** TLS options with undefined keys dropped (they would override Node's defaults) and verification on. */
function tlsOptionsOf(connection: ConnectionOptions): TlsConnectionOptions & { rejectUnauthorized: boolean } {
  const tls: TlsConnectionOptions = {};
  if (connection.ca !== undefined) tls.ca = connection.ca;
  if (connection.cert !== undefined) tls.cert = connection.cert;
  if (connection.key !== undefined) tls.key = connection.key;
  if (connection.servername !== undefined) tls.servername = connection.servername;
  if (connection.allowPartialTrustChain !== undefined) tls.allowPartialTrustChain = connection.allowPartialTrustChain;
  return { ...tls, rejectUnauthorized: connection.rejectUnauthorized !== false };
}

type ConnectOpts = Parameters<SocksProxyAgent['connect']>[1];

/**
 * The per-connection options a proxy agent works with: the override IP as the target (so the proxy
 * never resolves an overridden name), the caller's TLS options, and SNI/verification on the original name.
 * Agent-level TLS options win over per-request ones, as with Node's own agents.
 */
function retarget(
  opts: ConnectOpts,
  tls: ReturnType<typeof tlsOptionsOf>,
  resolve: NetworkOptions['resolve'],
  lookup: LookupFunction,
): ConnectOpts {
  const originalHost = (opts.host ?? '').replace(/^\[|\]$/g, '');
  const override = overrideFor(originalHost, resolve);
  const requested = opts.secureEndpoint ? opts.servername : undefined;
  const servername = tls.servername ?? (requested || (net.isIP(originalHost) ? undefined : originalHost));
  return {
    ...opts,
    ...(opts.secureEndpoint ? tls : {}),
    ...(opts.secureEndpoint && servername ? { servername } : {}),
    host: override?.address ?? originalHost,
    lookup,
  };
}

type ProxyAgent = SocksProxyAgent | HttpsProxyAgent<string>;

const isSocks = (kind: ProxyKind) => kind === 'socks5' || kind === 'socks5h';

/**
 * Imports the agent library a proxy kind needs (on first use only: most runs use no proxy, and a cold import takes
 * a few hundred milliseconds). A probe calls it before starting a stage clock, so the import is never timed as the
 * network.
 */
export async function loadProxyAgent(kind: ProxyKind): Promise<void> {
  await (isSocks(kind) ? import('socks-proxy-agent') : import('https-proxy-agent'));
}

interface ProxyAgentExtras {
  keepAlive?: boolean | undefined;
  /** Only for probes: ends a CONNECT proxy connection that does not answer. */
  signal?: AbortSignal | undefined;
  /** Only for probes: the SOCKS negotiation time limit. */
  timeoutMs?: number | undefined;
}

function shownProxy(choice: ProxyChoice): string {
  return `${redactProxyUrl(choice.url)} (${choice.from})`;
}

function proxyOf(choice: ProxyChoice): { url: string; from: string } {
  return { url: redactProxyUrl(choice.url), from: choice.from };
}

function targetOf(opts: ConnectOpts): string {
  const host = opts.host ?? '';
  return `${net.isIPv6(host) ? `[${host}]` : host}:${opts.port}`;
}

function errorText(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}

/** What the SOCKS library threw, told apart: the proxy's reply about the target, or no proxy to talk to. */
function socksFailure(error: unknown, choice: ProxyChoice, target: ConnectOpts): Error {
  const code = (error as { code?: unknown }).code;
  // socks5:// resolves the target here first: a failed lookup is the target's name, not the proxy's.
  if ((code === 'ENOTFOUND' || code === 'EAI_AGAIN') && (error as { hostname?: string }).hostname === target.host) return error as Error;
  const message = error instanceof Error ? error.message : String(error);
  const reply = socksReplyOf(message);
  if (reply) return new ProxyFailure('EPROXY', `the SOCKS5 proxy ${shownProxy(choice)} could not connect to ${targetOf(target)}: ${reply}`, proxyOf(choice), { cause: error });
  if (/authentication/i.test(message)) return new ProxyFailure('EPROXY', `the SOCKS5 proxy ${shownProxy(choice)} refused byoc's authentication: ${message}`, proxyOf(choice), { cause: error });
  if (/timed out/i.test(message)) return new ProxyFailure('EPROXYCONN', `the SOCKS5 proxy ${shownProxy(choice)} did not answer in time`, proxyOf(choice), { cause: error });
  return new ProxyFailure('EPROXYCONN', `cannot connect to the proxy ${shownProxy(choice)}: ${errorText(error)}`, proxyOf(choice), { cause: error });
}

async function createProxyAgent(
  choice: ProxyChoice,
  options: NetworkOptions,
  connection: ConnectionOptions,
  extras: ProxyAgentExtras = {},
): Promise<ProxyAgent> {
  const tls = tlsOptionsOf(connection);
  const lookup = lookupWithOverrides(options.resolve, options.dnsLookup);
  const keepAlive = extras.keepAlive ?? connection.keepAlive ?? false;
  if (isSocks(choice.kind)) {
    const { SocksProxyAgent } = await import('socks-proxy-agent');
    class ByocSocksProxyAgent extends SocksProxyAgent {
      override async connect(request: http.ClientRequest, opts: ConnectOpts): Promise<net.Socket> {
        const target = retarget(opts, tls, options.resolve, lookup);
        try {
          return await super.connect(request, target);
        } catch (error) {
          throw socksFailure(error, choice, target);
        }
      }
    }
    return new ByocSocksProxyAgent(choice.url, {
      keepAlive,
      // The proxy's own host name goes through the overrides too.
      socketOptions: { lookup },
      ...(extras.timeoutMs === undefined ? {} : { timeout: extras.timeoutMs }),
    });
  }
  const { HttpsProxyAgent } = await import('https-proxy-agent');
  class ByocHttpsProxyAgent extends HttpsProxyAgent<string> {
    override async connect(request: http.ClientRequest, opts: ConnectOpts): Promise<net.Socket> {
      const target = retarget(opts, tls, options.resolve, lookup);
      let answer: { statusCode: number; statusText: string } | undefined;
      request.once('proxyConnect', (response: { statusCode: number; statusText: string }) => (answer = response));
      let socket: net.Socket;
      try {
        socket = await super.connect(request, target);
      } catch (error) {
        throw new ProxyFailure('EPROXYCONN', `cannot connect to the proxy ${shownProxy(choice)}: ${errorText(error)}`, proxyOf(choice), { cause: error });
      }
      // The library replays a refusal to the request as if the target had answered it (an empty 403 reads as the
      // server's); the refusal is the proxy's, and it says so here, with its status.
      if (answer && answer.statusCode !== 200) {
        socket.destroy();
        throw new ProxyFailure('EPROXY', `the proxy ${shownProxy(choice)} answered ${answer.statusCode} ${answer.statusText} to CONNECT ${targetOf(target)}`, proxyOf(choice));
      }
      return socket;
    }
  }
  // The constructor options configure the connection to the proxy itself, never the target's TLS.
  return new ByocHttpsProxyAgent(choice.url, {
    keepAlive,
    lookup,
    ...(extras.signal ? { signal: extras.signal } : {}),
  });
}

/**
 * The Agent for requests to `url` (the target decides which proxy applies, through NO_PROXY and the
 * loopback bypass): a SOCKS5 or HTTP CONNECT proxy agent, or a plain http/https Agent whose lookup
 * answers from the resolve overrides. TLS options apply to the target and verification stays on
 * unless `rejectUnauthorized: false` is passed.
 */
export async function createAgent(
  url: URL,
  options: NetworkOptions,
  connection: ConnectionOptions = {},
): Promise<http.Agent | https.Agent> {
  const choice = proxyFor(url, options);
  if (choice) return watchAnswers(await createProxyAgent(choice, options, connection));
  const lookup = lookupWithOverrides(options.resolve, options.dnsLookup);
  const keepAlive = connection.keepAlive ?? false;
  if (url.protocol === 'https:') return watchAnswers(new https.Agent({ ...tlsOptionsOf(connection), keepAlive, lookup }));
  return watchAnswers(new http.Agent({ keepAlive, lookup }));
}

/**
 * A raw TCP stream to `url`'s host and port through the proxy that applies to it (SOCKS5 negotiation or
 * HTTP CONNECT done), for probes that time the tunnel and then run their own TLS handshake over it.
 * Throws when no proxy applies, when the proxy refuses (EPROXY) or cannot be reached (EPROXYCONN), or on a network error.
 */
export async function openProxyTunnel(
  url: URL,
  options: NetworkOptions,
  limits: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
): Promise<{ socket: net.Socket; proxy: ProxyChoice; target: string }> {
  const proxy = proxyFor(url, options);
  if (!proxy) throw new Error(`no proxy applies to ${url.host}`);
  const agent = await createProxyAgent(proxy, options, {}, { ...limits, keepAlive: false });
  // The agents talk to the request they serve only through events and destroy(); a stand-in will do.
  const request = new EventEmitter() as EventEmitter & { destroy(): void };
  request.destroy = () => undefined;
  const host = hostOf(url);
  const port = portOf(url);
  const target = `${overrideFor(host, options.resolve)?.address ?? host}:${port}`;
  // A refusal (CONNECT status, SOCKS reply) or an unreachable proxy rejects as a ProxyFailure (EPROXY, EPROXYCONN).
  const socket = await agent.connect(request as unknown as http.ClientRequest, {
    host,
    port,
    secureEndpoint: false,
  });
  // The SOCKS agent's time limit is for negotiating; once the tunnel stands, idling is the caller's business.
  socket.setTimeout(0);
  // What an http request would do once it owns the socket: the CONNECT agent resumes it then.
  request.emit('socket', socket);
  return { socket, proxy, target };
}
