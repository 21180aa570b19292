/**
 * The connection probe behind `byoc connect check`: DNS, then TCP (or the proxy tunnel), then the TLS
 * handshake, each timed and reported. A failing stage is a finding, not an exception: it reports
 * `ok: false` with an error code and message, and the stages after it are skipped.
 *
 * Each call owns everything it opens (sockets, agent, timers), so callers probe endpoints concurrently.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import tls from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import {
  describeRoute,
  hostOf,
  loadProxyAgent,
  openProxyTunnel,
  portOf,
  proxyFor,
  redactProxyUrl,
  resolveHost,
  type ConnectionOptions,
  type NetworkOptions,
  type ProxyChoice,
  type RouteDescription,
} from './network.js';
import { abortReason } from '../errors.js';
import { failureOf } from './failure.js';

export interface ProbeOptions extends NetworkOptions {
  /** The time limit of each stage (DNS, TCP, TLS), in milliseconds. */
  timeoutMs: number;
  /** CAs to verify the server against (default: Node's bundled store). */
  ca?: ConnectionOptions['ca'];
  /** The TLS server name (SNI and the name checked); default: the URL's host name. */
  servername?: string | undefined;
  /** The caller's cancellation (Ctrl-C): the probe then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Wall-clock milliseconds (e.g. `() => clock.now().getTime()`): stage timings and certificate days left. */
  now: () => number;
}

interface ProbeError {
  /** ENOTFOUND, ECONNREFUSED, ETIMEDOUT, EPROXY, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ... */
  code: string;
  message: string;
  /** for a proxy failure (EPROXY, EPROXYCONN): the proxy, credentials removed, and where it was set */
  proxy?: { url: string; from: string };
}

interface Skipped {
  skipped: true;
  reason: string;
}

interface DnsProbe {
  ok: boolean;
  ms: number;
  /** override: network.resolve; dns: this machine; proxy: left to the proxy; literal: the URL holds an IP */
  source: 'override' | 'dns' | 'proxy' | 'literal';
  addresses: string[];
  error?: ProbeError;
}

export interface TcpProbe {
  ok: boolean;
  /** Direct: the TCP handshake. Through a proxy: connecting to it and establishing the tunnel. */
  ms: number;
  /** The address connected to; through a proxy, the target as the proxy was asked for it. */
  address?: string;
  port: number;
  /** The proxy used, credentials removed. */
  proxy?: string;
  error?: ProbeError;
}

interface CertificateSummary {
  subject: string;
  issuer: string;
  /** ISO-8601 */
  validFrom: string;
  validTo: string;
  /** Whole days until validTo; negative once expired. */
  daysRemaining: number;
  fingerprint256: string;
  /** Subject alternative names, e.g. `DNS:ch.example.com`, `IP:100.64.0.7`. */
  san: string[];
}

export interface TlsProbe {
  /** The handshake completed and the certificate is trusted and names the server. */
  ok: boolean;
  ms: number;
  /** The name checked against the certificate (sent as SNI unless it is an IP address). */
  servername: string;
  protocol?: string;
  cipher?: string;
  authorized: boolean;
  authorizationError?: string;
  peerCertificate?: CertificateSummary;
  nameMatches?: boolean;
  error?: ProbeError;
}

export interface ProbeResult {
  url: string;
  ok: boolean;
  route: RouteDescription;
  dns: DnsProbe;
  tcp: TcpProbe | Skipped;
  tls: TlsProbe | Skipped;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Probe `url`. Resolves with a report for every failure of the endpoint or the path to it; rejects only
 * for a configuration error (a malformed proxy or resolve entry: ConfigError) or the caller's abort.
 */
export async function probeEndpoint(url: URL, options: ProbeOptions): Promise<ProbeResult> {
  const route = describeRoute(url, options);
  const proxy = proxyFor(url, options);
  const host = hostOf(url);
  const port = portOf(url);
  const result = (dns: DnsProbe, tcp: TcpProbe | Skipped, tlsResult: TlsProbe | Skipped): ProbeResult => ({
    url: url.href,
    ok: dns.ok && !('skipped' in tcp) && tcp.ok && ('skipped' in tlsResult ? url.protocol !== 'https:' : tlsResult.ok),
    route,
    dns,
    tcp,
    tls: tlsResult,
  });

  const dns = await probeDns(host, route, proxy, options);
  if (!dns.ok) {
    return result(dns, skipped('DNS resolution failed'), skipped('DNS resolution failed'));
  }

  const connection = proxy
    ? await probeTunnel(url, proxy, options)
    : await probeTcp(host, port, dns.addresses, options);
  if (!connection.socket) {
    return result(dns, connection.report, skipped('the TCP connection failed'));
  }
  const socket = connection.socket;
  try {
    if (url.protocol !== 'https:') {
      return result(dns, connection.report, skipped(`not a TLS endpoint (${url.protocol}//)`));
    }
    return result(dns, connection.report, await probeTls(socket, host, port, options));
  } finally {
    socket.destroy();
  }
}

function skipped(reason: string): Skipped {
  return { skipped: true, reason };
}

/** A per-stage time limit joined with the caller's signal; tells a timeout from the caller's abort. */
function stageLimit(options: ProbeOptions): { signal: AbortSignal; timedOut(): boolean } {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  return {
    signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
    timedOut: () => timeout.aborted && !options.signal?.aborted,
  };
}

function rethrowCallerAbort(options: ProbeOptions): void {
  if (options.signal?.aborted) throw options.signal.reason;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal, onLateValue?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) onLateValue?.(value);
        else resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

async function probeDns(
  host: string,
  route: RouteDescription,
  proxy: ProxyChoice | undefined,
  options: ProbeOptions,
): Promise<DnsProbe> {
  if (route.resolvedVia === 'proxy') {
    // socks5h and HTTP proxies receive the name: whether it resolves shows in the tunnel stage.
    return { ok: true, ms: 0, source: 'proxy', addresses: [] };
  }
  const source = route.resolvedVia;
  const limit = stageLimit(options);
  const started = options.now();
  try {
    const answer = await abortable(resolveHost(host, options), limit.signal);
    return { ok: true, ms: options.now() - started, source, addresses: answer.addresses };
  } catch (error) {
    rethrowCallerAbort(options);
    const ms = options.now() - started;
    const report = limit.timedOut()
      ? { code: 'ETIMEDOUT', message: `resolving ${host} timed out after ${options.timeoutMs} ms` }
      : describeNetworkError(error, { host, stage: 'dns', proxy });
    return { ok: false, ms, source, addresses: [], error: report };
  }
}

interface ConnectionStage {
  report: TcpProbe;
  socket?: net.Socket;
}

async function probeTcp(host: string, port: number, addresses: string[], options: ProbeOptions): Promise<ConnectionStage> {
  const limit = stageLimit(options);
  const started = options.now();
  // The addresses were resolved (and timed) already: hand them to net's happy-eyeballs as they are.
  const lookup: LookupFunction = (_name, lookupOptions, callback) => {
    const entries = addresses.map((address) => ({ address, family: net.isIP(address) }));
    queueMicrotask(() => {
      if (lookupOptions.all) callback(null, entries);
      else callback(null, entries[0]?.address ?? '', entries[0]?.family);
    });
  };
  // No `signal` option here: it would stay attached to the socket and end it after the TLS stage began.
  const socket = net.connect({ host, port, lookup, autoSelectFamily: true });
  try {
    await once(socket, 'connect', { signal: limit.signal });
    return {
      report: { ok: true, ms: options.now() - started, address: socket.remoteAddress ?? addresses[0], port },
      socket,
    };
  } catch (error) {
    socket.destroy();
    rethrowCallerAbort(options);
    const address = addresses.length === 1 ? addresses[0] : addresses.join(', ');
    return {
      report: {
        ok: false,
        ms: options.now() - started,
        ...(address ? { address } : {}),
        port,
        error: limit.timedOut()
          ? { code: 'ETIMEDOUT', message: `TCP connect to ${host}:${port} timed out after ${options.timeoutMs} ms` }
          : describeNetworkError(error, { host, port, stage: 'tcp' }),
      },
    };
  }
}

async function probeTunnel(url: URL, proxy: ProxyChoice, options: ProbeOptions): Promise<ConnectionStage> {
  // The agent library loads before the stage clock starts: its first import is not the network's time.
  await loadProxyAgent(proxy.kind);
  const limit = stageLimit(options);
  const started = options.now();
  const port = portOf(url);
  const shownProxy = redactProxyUrl(proxy.url);
  // The tunnel's socket keeps the signal it was opened with, so give it one that only this stage's
  // failure aborts: the stage limit running out later must not end a tunnel that TLS is using.
  const cancel = new AbortController();
  const cancelTunnel = (): void => cancel.abort(limit.signal.reason);
  limit.signal.addEventListener('abort', cancelTunnel, { once: true });
  try {
    const tunnel = await abortable(
      openProxyTunnel(url, options, { signal: cancel.signal, timeoutMs: options.timeoutMs }),
      limit.signal,
      (late) => late.socket.destroy(),
    );
    return {
      report: { ok: true, ms: options.now() - started, address: tunnel.target.replace(/:\d+$/, ''), port, proxy: shownProxy },
      socket: tunnel.socket,
    };
  } catch (error) {
    rethrowCallerAbort(options);
    return {
      report: {
        ok: false,
        ms: options.now() - started,
        port,
        proxy: shownProxy,
        error: limit.timedOut()
          ? {
              code: 'ETIMEDOUT',
              message: `the tunnel to ${url.host} through ${shownProxy} was not established within ${options.timeoutMs} ms`,
            }
          : describeNetworkError(error, { host: hostOf(url), port, stage: 'tunnel', proxy }),
      },
    };
  } finally {
    limit.signal.removeEventListener('abort', cancelTunnel);
  }
}

async function probeTls(socket: net.Socket, host: string, port: number, options: ProbeOptions): Promise<TlsProbe> {
  const servername = options.servername ?? host;
  const limit = stageLimit(options);
  const started = options.now();
  // rejectUnauthorized is false here, and only here: the probe reports on the certificate (who issued it,
  // when it expires, which names it holds), which a verifying handshake would hide behind one error.
  // It sends nothing over the connection and closes it after the handshake, so an untrusted peer learns
  // nothing; `authorized` and `authorizationError` still say whether a real client would have trusted it.
  const tlsSocket = tls.connect({
    socket,
    host: servername,
    ...(net.isIP(servername) ? {} : { servername }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    rejectUnauthorized: false,
  });
  try {
    await once(tlsSocket, 'secureConnect', { signal: limit.signal });
    const ms = options.now() - started;
    const legacy = tlsSocket.getPeerCertificate();
    const x509 = tlsSocket.getPeerX509Certificate();
    const peerCertificate = x509 ? summarizeCertificate(x509, options.now()) : undefined;
    const nameMatches = legacy && Object.keys(legacy).length > 0 ? tls.checkServerIdentity(servername, legacy) === undefined : false;
    const authorizationError = tlsSocket.authorizationError ? String(tlsSocket.authorizationError) : undefined;
    const authorized = tlsSocket.authorized;
    const cipher = tlsSocket.getCipher()?.name;
    const protocol = tlsSocket.getProtocol() ?? undefined;
    return {
      ok: authorized,
      ms,
      servername,
      ...(protocol ? { protocol } : {}),
      ...(cipher ? { cipher } : {}),
      authorized,
      ...(authorizationError ? { authorizationError } : {}),
      ...(peerCertificate ? { peerCertificate } : {}),
      nameMatches,
      ...(authorized
        ? {}
        : { error: describeCertificateProblem(authorizationError ?? 'UNKNOWN', servername, peerCertificate) }),
    };
  } catch (error) {
    rethrowCallerAbort(options);
    return {
      ok: false,
      ms: options.now() - started,
      servername,
      authorized: false,
      error: limit.timedOut()
        ? { code: 'ETIMEDOUT', message: `the TLS handshake with ${servername} did not finish within ${options.timeoutMs} ms` }
        : describeNetworkError(error, { host, port, stage: 'tls' }),
    };
  } finally {
    tlsSocket.destroy();
  }
}

function summarizeCertificate(x509: X509Certificate, now: number): CertificateSummary {
  const validFrom = new Date(x509.validFrom);
  const validTo = new Date(x509.validTo);
  return {
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    validFrom: Number.isNaN(validFrom.getTime()) ? x509.validFrom : validFrom.toISOString(),
    validTo: Number.isNaN(validTo.getTime()) ? x509.validTo : validTo.toISOString(),
    daysRemaining: Math.floor((validTo.getTime() - now) / DAY_MS),
    fingerprint256: x509.fingerprint256,
    san: (x509.subjectAltName ?? '')
      .split(/,\s*/)
      .filter(Boolean)
      .map((name) => name.replace(/^IP Address:/, 'IP:')),
  };
}

const CERTIFICATE_PROBLEMS: Record<string, (name: string, cert?: CertificateSummary) => string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: () => 'the server certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: () => 'the certificate chain ends in a self-signed CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: (_name, cert) =>
    `the certificate was issued by a CA that is not trusted${cert ? ` (${cert.issuer})` : ''}`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: (_name, cert) =>
    `the certificate was issued by a CA that is not trusted${cert ? ` (${cert.issuer})` : ''}`,
  CERT_HAS_EXPIRED: (_name, cert) => `the certificate expired${cert ? ` on ${cert.validTo}` : ''}`,
  CERT_NOT_YET_VALID: (_name, cert) => `the certificate is not valid yet${cert ? ` (from ${cert.validFrom})` : ''}`,
  ERR_TLS_CERT_ALTNAME_INVALID: (name, cert) =>
    `the certificate does not name ${name}${cert && cert.san.length > 0 ? ` (it names ${cert.san.join(', ')})` : ''}`,
};

function describeCertificateProblem(code: string, servername: string, cert?: CertificateSummary): ProbeError {
  const describe = CERTIFICATE_PROBLEMS[code];
  return { code, message: describe ? describe(servername, cert) : `the certificate is not trusted (${code})` };
}

interface ErrorContext {
  host: string;
  port?: number;
  stage: 'dns' | 'tcp' | 'tunnel' | 'tls' | 'request';
  proxy?: ProxyChoice | undefined;
}

/** A network error as a stable code and a sentence a person can act on: the same words `query` and the clients use. */
function describeNetworkError(error: unknown, context: ErrorContext): ProbeError {
  const proxy = context.proxy ? { url: redactProxyUrl(context.proxy.url), from: context.proxy.from } : undefined;
  const failure = failureOf(error, { host: context.host, port: context.port, proxy });
  if (failure) return { code: failure.code, message: failure.message, ...(failure.proxy ? { proxy: failure.proxy } : {}) };
  const code = (error as NodeJS.ErrnoException).code;
  return { code: code ?? 'ERROR', message: error instanceof Error ? error.message : String(error) };
}
