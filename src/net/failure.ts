/**
 * One classification of what breaks on the path to a service, shared by every remote call (ClickHouse for
 * `query` and the audit, the Kubernetes API, the broker) and by the probe behind `connect check` and the
 * doctor, so all of them name the same fault with the same words, exit code and setting to fix.
 *
 * Two steps: `failureOf` turns whatever a socket, TLS, proxy agent or HTTP client threw into a stable code and
 * a sentence about what happened (the probe stores exactly this); `diagnose` adds what byoc knows about the
 * caller (which service, which settings hold the URL, the CA, the proxy) and decides the exit kind:
 * network (6) for the path, including trust in the server's certificate; not-allowed (4) only when the server
 * decided against us (our certificate refused or revoked, 401/403); remote (5) for a server that failed.
 */
import type http from 'node:http';
import type { ExitKind } from '../errors.js';

/** A failure as the network saw it: a stable code and what happened, in words. */
export interface PathFailure {
  /**
   * EPROXY (the proxy refused: CONNECT status, SOCKS reply), EPROXYCONN (the proxy itself is unreachable),
   * ENOTFOUND, EAI_AGAIN, ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ECONNRESET, a TLS verification code
   * (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID...), a TLS alert
   * (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA...), HTTP_<status> for an HTTP answer that is not the service's own.
   */
  code: string;
  message: string;
  /** for EPROXY / EPROXYCONN: the proxy (redacted) and the setting or variable it came from */
  proxy?: { url: string; from: string } | undefined;
}

/** Where a failure happened: the endpoint (host, port) and the proxy in the way, if any (shown redacted). */
export interface FailurePlace {
  host: string;
  port?: number | undefined;
  /** the redacted proxy URL and where it was set (`network.proxy`, `HTTPS_PROXY`...) */
  proxy?: { url: string; from: string } | undefined;
}

/** Marks an error a proxy agent raised before the tunnel stood, so it is told apart from the target's. */
export class ProxyFailure extends Error {
  constructor(
    /** EPROXY: the proxy answered and refused; EPROXYCONN: byoc could not talk to the proxy */
    readonly code: 'EPROXY' | 'EPROXYCONN',
    message: string,
    /** the proxy, redacted, and where it was set */
    readonly proxy: { url: string; from: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyFailure';
  }
}

/** RFC 1928 reply codes, as the socks library names them and as a person reads them. */
const SOCKS_REPLIES: Record<string, string> = {
  Failure: 'general failure (1)',
  NotAllowed: 'connection not allowed by ruleset (2)',
  NetworkUnreachable: 'network unreachable (3)',
  HostUnreachable: 'host unreachable (4)',
  ConnectionRefused: 'connection refused (5)',
  TTLExpired: 'TTL expired (6)',
  CommandNotSupported: 'command not supported (7)',
  AddressNotSupported: 'address type not supported (8)',
};

/** The SOCKS reply in words, from the socks library's message ("Socks5 proxy rejected connection - HostUnreachable"). */
export function socksReplyOf(message: string): string | undefined {
  const name = /rejected (?:incoming bound )?connection - \(?(\w+)\)?/.exec(message)?.[1];
  return name ? (SOCKS_REPLIES[name] ?? name) : undefined;
}

/** TLS alerts a server sends about the certificate we presented (RFC 8446 §6.2), by OpenSSL's reason. */
const CERTIFICATE_ALERTS: Record<string, { alert: number; words: string }> = {
  SSLV3_ALERT_BAD_CERTIFICATE: { alert: 42, words: 'bad certificate' },
  SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: { alert: 43, words: 'unsupported certificate' },
  SSLV3_ALERT_CERTIFICATE_REVOKED: { alert: 44, words: 'certificate revoked' },
  SSLV3_ALERT_CERTIFICATE_EXPIRED: { alert: 45, words: 'certificate expired' },
  SSLV3_ALERT_CERTIFICATE_UNKNOWN: { alert: 46, words: 'certificate unknown' },
  TLSV1_ALERT_UNKNOWN_CA: { alert: 48, words: 'unknown CA' },
  TLSV1_ALERT_ACCESS_DENIED: { alert: 49, words: 'access denied' },
  TLSV13_ALERT_CERTIFICATE_REQUIRED: { alert: 116, words: 'certificate required' },
};
const ALERT_BY_NUMBER = new Map(Object.entries(CERTIFICATE_ALERTS).map(([reason, entry]) => [entry.alert, { reason, ...entry }]));

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);
const SERVER_VALIDITY = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

/** The code of an error, also when a library kept it only in the text ("connect ECONNREFUSED 127.0.0.1:1055"). */
function codeOf(error: unknown, text: string): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code) return code;
  // Messages some libraries keep without the code (OpenSSL's words for the verification results).
  if (/unable to verify the first certificate|unable to verify leaf signature/i.test(text)) return 'UNABLE_TO_VERIFY_LEAF_SIGNATURE';
  if (/self[- ]signed certificate in certificate chain/i.test(text)) return 'SELF_SIGNED_CERT_IN_CHAIN';
  if (/^self[- ]signed certificate$|: self[- ]signed certificate$/i.test(text)) return 'DEPTH_ZERO_SELF_SIGNED_CERT';
  if (/unable to get local issuer certificate/i.test(text)) return 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
  if (/certificate has expired/i.test(text)) return 'CERT_HAS_EXPIRED';
  return (
    /\b(?:connect|read|write|getaddrinfo|querySrv) (E[A-Z_]+)\b/.exec(text)?.[1] ??
    /\b(ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_[A-Z0-9_]+|UNABLE_TO_[A-Z_]+|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|EPROXYCONN|EPROXY|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)\b/.exec(text)?.[1]
  );
}

/** An OpenSSL alert about our certificate, from its code or its text ("SSL alert number 48"). */
function certificateAlertOf(code: string | undefined, text: string): { alert: number; words: string } | undefined {
  const reason = code?.replace(/^ERR_SSL_/, '');
  if (reason && CERTIFICATE_ALERTS[reason]) return CERTIFICATE_ALERTS[reason];
  const number = Number(/alert number (\d+)/.exec(text)?.[1]);
  return ALERT_BY_NUMBER.get(number);
}

/**
 * What went wrong, as a stable code and a sentence naming the host, the proxy or the certificate problem.
 * Undefined when the error is not a failure of the path (e.g. a server's own error message).
 */
export function failureOf(error: unknown, place: FailurePlace): PathFailure | undefined {
  const text = error instanceof Error ? error.message : String(error);
  const code = codeOf(error, text);
  const where = place.port === undefined ? place.host : `${place.host}:${place.port}`;
  if (error instanceof ProxyFailure || code === 'EPROXY' || code === 'EPROXYCONN') {
    const proxy = error instanceof ProxyFailure ? error.proxy : place.proxy;
    return { code: code ?? 'EPROXY', message: (/reason: (.*)$/.exec(text)?.[1] ?? text).trim(), ...(proxy ? { proxy } : {}) };
  }
  switch (code) {
    case 'ENOTFOUND':
      return { code, message: `${place.host} does not resolve (ENOTFOUND)` };
    case 'EAI_AGAIN':
      return { code, message: `the DNS lookup of ${place.host} failed temporarily (EAI_AGAIN)` };
    case 'ECONNREFUSED':
      return { code, message: `${where} refused the connection (ECONNREFUSED): nothing listens there` };
    case 'ETIMEDOUT':
      return { code, message: `connecting to ${where} timed out (ETIMEDOUT)` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { code, message: `no route to ${where} (${code})` };
    case 'ECONNRESET':
    case 'EPIPE':
      return {
        code,
        message: /before secure TLS connection|socket hang up/i.test(text)
          ? `${where} closed the connection during the TLS handshake (${code})`
          : `${where} closed the connection (${code})`,
      };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { code, message: `the certificate of ${where} does not name ${place.host}${/cert's altnames: (.*)$/.exec(text) ? ` (${/cert's altnames: (.*)$/.exec(text)![1]})` : ''}` };
    default:
      break;
  }
  if (code && UNTRUSTED.has(code)) return { code, message: `the certificate of ${where} is not trusted (${code}: ${text.replace(/^.*reason: /, '')})` };
  if (code === 'CERT_HAS_EXPIRED') return { code, message: `the certificate of ${where} has expired (CERT_HAS_EXPIRED)` };
  if (code === 'CERT_NOT_YET_VALID') return { code, message: `the certificate of ${where} is not valid yet (CERT_NOT_YET_VALID)` };
  if (code && NOT_TLS.has(code)) return { code, message: `${where} did not answer with TLS (${code})` };
  const alert = certificateAlertOf(code, text);
  if (alert) return { code: code ?? `TLS_ALERT_${alert.alert}`, message: `${where} refused your certificate (TLS alert ${alert.alert}: ${alert.words})` };
  if (/sslv3 alert handshake failure|alert number 40\b/i.test(text)) {
    return { code: code ?? 'EPROTO', message: `${where} ended the TLS handshake (alert 40: handshake failure)` };
  }
  if (/before secure TLS connection|socket hang up/i.test(text)) {
    return { code: 'ECONNRESET', message: `${where} closed the connection during the TLS handshake (ECONNRESET)` };
  }
  return undefined;
}

/** What an HTTP answer that is not the service's own says: the page title, or the first line of text. */
export function summarizeBody(body: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(body)?.[1];
  const centers = [...body.matchAll(/<center>([^<]+)<\/center>/gi)].map((match) => match[1]!.trim());
  const detail = centers.find((line) => !/^nginx|^\d{3} /.test(line));
  const text = title ? `${title.trim()}${detail && !title.includes(detail) ? `: ${detail}` : ''}` : body.replace(/<[^>]+>/g, ' ');
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** An HTTP answer that is not the service's own (a proxy's or nginx's page, an empty 403) as a failure. */
export function httpFailure(status: number, statusText: string, body: string, place: FailurePlace): PathFailure {
  const said = summarizeBody(body);
  const where = place.port === undefined ? place.host : `${place.host}:${place.port}`;
  const server = /<hr><center>(nginx[^<]*)<\/center>/i.exec(body)?.[1];
  const status_ = `${status}${statusText ? ` ${statusText}` : ''}`;
  return {
    code: `HTTP_${status}`,
    message: `${where} answered HTTP ${status_}${said && said !== status_ ? ` (${said})` : ''}${server ? ` from ${server}` : ''}`,
  };
}

/** What byoc knows about the caller: it names the settings and commands in hints. */
export interface DiagnosisContext extends FailurePlace {
  /** 'ClickHouse', 'the Kubernetes API', 'the broker' */
  what: string;
  url: string;
  /** the code prefix for the failures that keep a per-service code (`clickhouse_unreachable`, `k8s_timeout`) */
  prefix: 'clickhouse' | 'k8s' | 'broker' | 'metrics';
  /** the setting that holds the URL, e.g. `services.acme.clickhouse.url` */
  urlSetting: string;
  /** the setting that holds the CA to trust, e.g. `services.acme.clickhouse.caFile` */
  caSetting: string;
  /** the setting that names the server for TLS, when there is one (`services.acme.kubernetes.tlsServerName`) */
  servernameSetting?: string | undefined;
  /** the command that checks the path end to end, e.g. `byoc connect check acme` */
  check?: string | undefined;
  /** what to run for a fresh certificate (`byoc cert get acme`); absent for the customer's own credentials */
  certificateStep?: string | undefined;
  /** what the customer runs so the endpoint accepts our certificate (`byoc access operator-config r-...`) */
  operatorStep?: string | undefined;
}

const WHAT = { clickhouse: 'ClickHouse', kubernetes: 'the Kubernetes API' } as const;

/**
 * The context for a service's endpoint, as `query`, the Kubernetes client and the doctor all describe it: the
 * settings under `services.<service>.<endpoint>`, the path check, and (for an engineer's grant) the steps for a
 * fresh certificate and the customer's operator step.
 */
export function endpointContext(input: {
  endpoint: 'clickhouse' | 'kubernetes';
  url: string;
  service?: string | undefined;
  requestId?: string | undefined;
  /** settings that hold the URL and CA when they are not the service's (the audit connection) */
  settings?: { url: string; caFile: string } | undefined;
}): DiagnosisContext {
  const { endpoint, url, service, requestId } = input;
  const parsed = new URL(url);
  const where = service ? `services.${service}.${endpoint}` : undefined;
  const urlKey = endpoint === 'clickhouse' ? 'url' : 'server';
  return {
    what: WHAT[endpoint],
    url,
    prefix: endpoint === 'clickhouse' ? 'clickhouse' : 'k8s',
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port) || (parsed.protocol === 'https:' ? 443 : 80),
    urlSetting: input.settings?.url ?? (where ? `${where}.${urlKey}` : `the ${WHAT[endpoint]} URL`),
    caSetting: input.settings?.caFile ?? (where ? `${where}.caFile` : `the CA file for ${url}`),
    servernameSetting: endpoint === 'kubernetes' && where ? `${where}.tlsServerName` : undefined,
    check: service ? `byoc connect check ${service}${endpoint === 'kubernetes' ? ' --target kubernetes' : ''}` : undefined,
    // Engineers hold a certificate from the broker; the customer's own audit connection does not.
    certificateStep: service && (requestId || endpoint === 'kubernetes') ? `byoc cert get ${service}` : undefined,
    operatorStep: requestId ? `byoc access operator-config ${requestId}` : undefined,
  };
}

export interface Diagnosis {
  /** the stable error code (add, never rename) */
  code: string;
  kind: Extract<ExitKind, 'network' | 'not-allowed' | 'remote'>;
  message: string;
  hint: string;
}

function proxyHintOf(proxy: PathFailure['proxy']): string {
  if (!proxy) return 'network.proxy (or HTTPS_PROXY / ALL_PROXY in the environment)';
  return proxy.from === 'network.proxy' ? 'network.proxy' : `${proxy.from} (or network.proxy, which takes precedence)`;
}

/** The failure as byoc reports it: code, exit kind, message and the setting to fix with real values. */
export function diagnose(failure: PathFailure, context: DiagnosisContext): Diagnosis {
  const { what, url, host } = context;
  const where = context.port === undefined ? host : `${host}:${context.port}`;
  const check = context.check ? ` (${context.check} shows each stage)` : '';
  const proxySource = failure.proxy ?? context.proxy;
  const proxy = proxySource?.url;
  const message = `cannot reach ${what} at ${url}: ${failure.message}`;
  const { code } = failure;
  if (code === 'EPROXY') {
    const status = Number(/answered (\d{3})\b/.exec(failure.message)?.[1]);
    const hint =
      status === 407
        ? `The proxy wants credentials: put them in ${proxyHintOf(proxySource)} as http://user:password@host:port.`
        : status === 403 || /not allowed/.test(failure.message)
          ? `The proxy${proxy ? ` ${proxy}` : ''} does not allow connections to ${where}: ask its administrator to allow it, or set ${proxyHintOf(proxySource)} to a proxy that does (e.g. socks5h://127.0.0.1:1055, tailscaled's userspace proxy).`
          : `The proxy${proxy ? ` ${proxy}` : ''} could not connect to ${where} itself: check the host and port in ${context.urlSetting}, that the name resolves where the proxy runs (or map it in network.resolve), and that the proxy can reach it${check}.`;
    return { code: 'proxy_refused', kind: 'network', message, hint };
  }
  if (code === 'EPROXYCONN') {
    return {
      code: 'proxy_unreachable',
      kind: 'network',
      message,
      hint: `Start the proxy${proxy ? ` at ${proxy}` : ''} (for tailscaled: --socks5-server or --outbound-http-proxy-listen), or fix or unset ${proxyHintOf(proxySource)}.`,
    };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return {
      code: 'dns_unresolved',
      kind: 'network',
      message,
      hint: `Map ${host} to its address in network.resolve (e.g. network.resolve: { ${host}: 100.64.0.7 }, the Tailscale IP that tailscale status lists), or enable MagicDNS (tailscale set --accept-dns)${check}.`,
    };
  }
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return {
      code: `${context.prefix}_unreachable`,
      kind: 'network',
      message,
      hint: `Check the port in ${context.urlSetting} (${url}), that the service listens there and that the tailnet ACLs allow it${check}.`,
    };
  }
  if (code === 'ETIMEDOUT') {
    return { code: `${context.prefix}_timeout`, kind: 'network', message, hint: `Check ${context.urlSetting} (${url}) and the path to ${where}${check}.` };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      code: 'tls_name_mismatch',
      kind: 'network',
      message,
      hint: context.servernameSetting
        ? `Set ${context.servernameSetting} to a name the certificate holds, or use that name in ${context.urlSetting}.`
        : `Use a name the certificate holds in ${context.urlSetting} (map it to the address in network.resolve if it does not resolve).`,
    };
  }
  if (UNTRUSTED.has(code)) {
    return {
      code: 'tls_untrusted',
      kind: 'network',
      message,
      hint: `Set ${context.caSetting} to the CA that signed the certificate of ${host}${context.check ? ` (${context.check} shows its issuer)` : ''}.`,
    };
  }
  if (SERVER_VALIDITY.has(code)) {
    return {
      code: 'tls_server_expired',
      kind: 'network',
      message,
      hint: `The server certificate of ${host} is outside its validity: the customer renews it; also check this machine's clock.`,
    };
  }
  if (NOT_TLS.has(code)) {
    return { code: 'tls_not_tls', kind: 'network', message, hint: `Check the scheme and port in ${context.urlSetting} (${url}): https:// needs a TLS port.` };
  }
  const alert = certificateAlertOf(code, failure.message) ?? (/TLS alert (\d+)/.exec(failure.message) ? ALERT_BY_NUMBER.get(Number(/TLS alert (\d+)/.exec(failure.message)![1])) : undefined);
  if (alert) {
    const hint =
      alert.alert === 44
        ? `Your certificate was revoked: request access again${context.certificateStep ? ` (${context.certificateStep.replace('cert get', 'access request')} --reason "...")` : ''}.`
        : alert.alert === 45 || alert.alert === 116
          ? `Get a current certificate${context.certificateStep ? `: ${context.certificateStep}` : ''}.`
          : `The server does not accept the CA that issued your certificate${context.operatorStep ? `: the customer applies the operator step (${context.operatorStep})` : ''}; check it is current${context.certificateStep ? ` (${context.certificateStep.replace('cert get', 'cert show')})` : ''}.`;
    return { code: 'certificate_refused', kind: 'not-allowed', message: `${what} at ${url}: ${failure.message}`, hint };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'EPROTO') {
    return {
      code: `${context.prefix}_unreachable`,
      kind: 'network',
      message,
      hint: /TLS handshake/.test(failure.message)
        ? `The server ended the handshake without saying why: it may not trust your certificate${context.certificateStep ? ` (${context.certificateStep.replace('cert get', 'cert show')})` : ''}, or ${context.urlSetting} names a port that does not speak TLS${check}.`
        : `Retry; if it persists, check the path to ${where}${check}.`,
    };
  }
  if (code.startsWith('HTTP_')) return diagnoseHttp(Number(code.slice(5)), failure, context);
  return { code: `${context.prefix}_unreachable`, kind: 'network', message, hint: `Check the path to ${where}${check}.` };
}

function diagnoseHttp(status: number, failure: PathFailure, context: DiagnosisContext): Diagnosis {
  const { what, url } = context;
  const message = `${what} at ${url}: ${failure.message}`;
  if (/No required SSL certificate/i.test(failure.message)) {
    return { code: 'certificate_missing', kind: 'not-allowed', message, hint: `The endpoint wants your client certificate${context.certificateStep ? `: ${context.certificateStep}` : ''}.` };
  }
  if (/SSL certificate error|SSL certificate has expired|certificate/i.test(failure.message) && (status === 400 || status === 495 || status === 496)) {
    return {
      code: 'certificate_refused',
      kind: 'not-allowed',
      message: `${message}: the server refused your certificate (expired, revoked, or issued by a CA it does not trust)`,
      hint: `Check your certificate${context.certificateStep ? ` (${context.certificateStep.replace('cert get', 'cert show')})` : ''}${context.operatorStep ? `; if it is current, the customer applies the operator step (${context.operatorStep})` : ''}.`,
    };
  }
  if (status === 401 || status === 403) {
    return {
      code: 'endpoint_refused',
      kind: 'not-allowed',
      message: `the customer's endpoint refused your identity: ${failure.message}`,
      hint: context.operatorStep
        ? `The operator step may not be applied yet: the customer runs ${context.operatorStep}.`
        : 'The server refused this identity: check that its user exists and is allowed from here.',
    };
  }
  if (status === 502 || status === 503 || status === 504) {
    return {
      code: 'gateway_error',
      kind: 'remote',
      message: `${message}: the proxy in front of ${what} could not get an answer from it`,
      hint: `${what} behind ${context.host} is down, restarting or overloaded: retry in a minute; if it persists, the customer checks it${context.check ? ` (${context.check})` : ''}.`,
    };
  }
  if (status === 404 || status === 405) {
    return { code: `${context.prefix}_http_error`, kind: 'remote', message, hint: `Check ${context.urlSetting} (${url}) points at ${what} itself, not another service on that host.` };
  }
  return { code: `${context.prefix}_http_error`, kind: 'remote', message, hint: status >= 500 ? `Retry; if it persists, the customer checks ${what} at ${context.host}.` : `Check ${context.urlSetting} (${url}).` };
}

/** The status line (and ClickHouse's exception header) of an HTTP answer that was not a success. */
export interface FailedAnswer {
  status: number;
  statusText: string;
  /** X-ClickHouse-Exception-Code: the answer is ClickHouse's own error, not a proxy's page */
  exceptionCode?: string;
}

const failedAnswers = new WeakMap<object, FailedAnswer>();

/**
 * Remembers the last failed answer of the agent's latest request. Clients that keep only the body of a failed
 * answer (@clickhouse/client) lose its status, and an empty 403 or an nginx page then cannot be told from the
 * service's own error; the agent is byoc's, so it keeps the status for the error translation to read.
 */
export function watchAnswers<T extends http.Agent>(agent: T): T {
  // addRequest is how http.ClientRequest hands itself to its agent (not in @types/node, stable since Node 0.x).
  const internals = agent as unknown as { addRequest(request: http.ClientRequest, ...rest: unknown[]): void };
  const addRequest = internals.addRequest.bind(agent);
  internals.addRequest = (request, ...rest) => {
    failedAnswers.delete(agent);
    request.once('response', (response: http.IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) return;
      const exceptionCode = response.headers['x-clickhouse-exception-code'];
      failedAnswers.set(agent, {
        status,
        statusText: response.statusMessage ?? '',
        ...(typeof exceptionCode === 'string' ? { exceptionCode } : {}),
      });
    });
    addRequest(request, ...rest);
  };
  return agent;
}

/** The failed answer of the agent's latest request, if its latest request got one. */
export function lastFailedAnswer(agent: object | undefined): FailedAnswer | undefined {
  return agent ? failedAnswers.get(agent) : undefined;
}
