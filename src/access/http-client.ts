import type { Agent } from 'node:http';
import { errorClassOf, NetworkError, NotAllowedError, RemoteError } from '../errors.js';
import { diagnose, failureOf, summarizeBody, type DiagnosisContext } from '../net/failure.js';
import type { BrokerClient, BrokerCrl } from './client.js';
import type { AuthDescription } from '../auth/broker-auth.js';
import { MAX_WAIT_SECONDS, type AccessRequest, type CertificateIssue, type IssuedToken, type ListFilter, type NewRequest, type NewToken, type OperatorConfig, type OperatorFormat, type TokenInfo } from './types.js';

/**
 * The bearer for a call: a fixed token (BYOC_TOKEN), or the OIDC session's (src/auth/sign-in.ts), which renews itself
 * when near expiry and on `renew` (the broker said it expired).
 */
export type BearerSource = (options?: { renew?: boolean }) => Promise<string>;

export interface HttpBrokerOptions {
  url: string;
  token: string | undefined | BearerSource;
  agent?: Agent;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Kinds a broker's answer may carry through; anything else is the broker's own failure (exit 5). */
const RELAYED_KINDS = new Set(['usage', 'config', 'not-allowed']);

/** A served broker over HTTP(S), through the network layer's agent (proxy, resolve overrides, TLS). */
// loaded on the first call, once per process
let http: Promise<typeof import('node:http')> | undefined;
let https: Promise<typeof import('node:https')> | undefined;

export class HttpBrokerClient implements BrokerClient {
  readonly location: string;
  private readonly base: URL;

  private readonly target: { protocol: string; hostname: string; port: string; path: string; auth?: string };

  constructor(private readonly options: HttpBrokerOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.location = this.base.origin;
    // what node's request(url) takes from a URL (urlToHttpOptions), taken once
    this.target = {
      protocol: this.base.protocol,
      hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
      port: this.base.port,
      path: this.base.pathname,
      ...(this.base.username || this.base.password ? { auth: `${decodeURIComponent(this.base.username)}:${decodeURIComponent(this.base.password)}` } : {}),
    };
  }

  async whoami(): Promise<string> {
    return (await this.call<{ identity: string }>('GET', 'v1/whoami')).identity;
  }
  create(input: NewRequest): Promise<AccessRequest> {
    return this.call('POST', 'v1/requests', input);
  }
  get(id: string): Promise<AccessRequest> {
    return this.call('GET', `v1/requests/${encodeURIComponent(id)}`);
  }
  /** The request once decided, lapsed or `seconds` passed: the broker holds its answer until then (a long-poll). */
  awaitChange(id: string, seconds: number): Promise<AccessRequest> {
    return this.call('GET', `v1/requests/${encodeURIComponent(id)}?wait=${Math.max(1, Math.min(MAX_WAIT_SECONDS, Math.round(seconds)))}`);
  }
  async list(filter: ListFilter = {}): Promise<AccessRequest[]> {
    const query = new URLSearchParams();
    if (filter.mine) query.set('mine', 'true');
    if (filter.reviewable) query.set('reviewable', 'true');
    if (filter.status) query.set('status', filter.status);
    if (filter.service) query.set('service', filter.service);
    const suffix = query.size ? `?${query}` : '';
    return (await this.call<{ requests: AccessRequest[] }>('GET', `v1/requests${suffix}`)).requests;
  }
  approve(id: string, comment?: string): Promise<AccessRequest> {
    return this.call('POST', `v1/requests/${encodeURIComponent(id)}/approve`, comment ? { comment } : {});
  }
  deny(id: string, comment: string): Promise<AccessRequest> {
    return this.call('POST', `v1/requests/${encodeURIComponent(id)}/deny`, { comment });
  }
  revoke(id: string, comment?: string): Promise<AccessRequest> {
    return this.call('POST', `v1/requests/${encodeURIComponent(id)}/revoke`, comment ? { comment } : {});
  }
  issueCertificate(id: string, csrPem: string): Promise<CertificateIssue> {
    return this.call('POST', `v1/requests/${encodeURIComponent(id)}/certificate`, { csr: csrPem });
  }
  operatorConfig(id: string, format: OperatorFormat): Promise<OperatorConfig> {
    return this.call('GET', `v1/requests/${encodeURIComponent(id)}/operator-config?format=${format}`);
  }
  async ca(): Promise<string> {
    return this.call('GET', 'v1/ca', undefined, false, false);
  }
  /** How to sign in to this broker (GET /v1/auth, no token). */
  auth(): Promise<AuthDescription> {
    return this.call('GET', 'v1/auth', undefined, true, false);
  }
  /** The JSON twin of GET /v1/crl (the CRL and what it lists); needs the token, unlike the bare PEM. */
  crl(): Promise<BrokerCrl> {
    return this.call('GET', 'v1/crl');
  }
  createToken(input: NewToken): Promise<IssuedToken> {
    return this.call('POST', 'v1/tokens', input);
  }
  async listTokens(): Promise<TokenInfo[]> {
    return (await this.call<{ tokens: TokenInfo[] }>('GET', 'v1/tokens')).tokens;
  }
  revokeToken(id: string): Promise<TokenInfo> {
    return this.call('POST', `v1/tokens/${encodeURIComponent(id)}/revoke`, {});
  }

  /**
   * A failure on the way to the broker, classified like every other remote call (src/net/failure.ts). The broker
   * keeps its own code (broker_unreachable) and exit 5 for what scripts already handle; the message says what broke
   * and a proxy refusal or untrusted certificate keeps the path's exit code (6).
   */
  private pathError(error: NodeJS.ErrnoException): Error {
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.base.port) || (this.base.protocol === 'https:' ? 443 : 80);
    const context: DiagnosisContext = {
      what: 'the broker',
      url: this.location,
      prefix: 'broker',
      host,
      port,
      urlSetting: 'broker.url (BYOC_BROKER_URL)',
      // The broker is checked against the system trust store, broker.caFile and a certificate pinned for its URL.
      caSetting: 'broker.caFile (BYOC_BROKER_CA)',
    };
    const failure = failureOf(error, context);
    if (!failure) {
      return new RemoteError('broker_unreachable', `cannot reach the broker at ${this.location}: ${error.code ?? error.message}`, {
        hint: 'Check broker.url (BYOC_BROKER_URL), the network path (byoc doctor), and that the broker is running.',
        cause: error,
      });
    }
    const diagnosis = diagnose(failure, context);
    if (diagnosis.code === 'broker_unreachable' || diagnosis.code === 'broker_timeout') {
      return new RemoteError('broker_unreachable', diagnosis.message, { hint: `${diagnosis.hint.replace(/\.$/, '')}; check that the broker is running (byoc doctor checks the way to it).`, cause: error });
    }
    const ErrorClass = diagnosis.kind === 'not-allowed' ? NotAllowedError : diagnosis.kind === 'remote' ? RemoteError : NetworkError;
    const hint =
      diagnosis.code === 'tls_untrusted'
        ? `${diagnosis.hint.replace(/\.$/, '')}, or pin the broker's own certificate: byoc broker trust ${this.location} --fingerprint SHA256:<its fingerprint, from the broker's operator>.`
        : diagnosis.hint;
    return new ErrorClass(diagnosis.code, diagnosis.message, { hint, cause: error });
  }

  private async call<T>(method: string, path: string, body?: unknown, json = true, authenticated = true): Promise<T> {
    const source = this.options.token;
    try {
      return await this.attempt<T>(method, path, body, json, authenticated ? (typeof source === 'function' ? await source() : source) : undefined);
    } catch (error) {
      // A session token the broker found expired (clocks apart): renewed once, then the call again.
      if (!authenticated || typeof source !== 'function' || (error as { code?: string }).code !== 'token_expired') throw error;
      return this.attempt<T>(method, path, body, json, await source({ renew: true }));
    }
  }

  private async attempt<T>(method: string, path: string, body: unknown, json: boolean, token: string | undefined): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'byoc' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const { request } = this.base.protocol === 'https:' ? await (https ??= import('node:https')) : await (http ??= import('node:http'));
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      // The parts of the URL, split once in the constructor: a URL object per call is a measurable part of a served
      // broker's request (paths here are built from encoded parts, so nothing needs resolving).
      const outgoing = request({
        ...this.target,
        path: `${this.target.path}${path}`,
        method,
        headers,
        ...(this.options.agent ? { agent: this.options.agent } : {}),
        timeout: this.options.timeoutMs ?? 30_000,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      outgoing.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      });
      outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      outgoing.on('error', reject);
      outgoing.end(payload);
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') throw error;
      throw this.pathError(error);
    });
    if (status >= 200 && status < 300) return (json ? JSON.parse(text) : text) as T;
    let document: { error?: { code?: string; message?: string; hint?: string; kind?: string } } = {};
    try {
      document = JSON.parse(text);
    } catch {
      // not JSON: a proxy or something else answered
    }
    const error = document.error;
    if (!error?.code || !error.message) {
      // Not the broker's own answer: a proxy's or load balancer's page says what it is.
      const said = summarizeBody(text);
      throw new RemoteError('broker_error', `the broker at ${this.location} answered ${status}${said ? ` (${said})` : ''}`, {
        hint: status >= 502 && status <= 504 ? 'The broker is down or restarting behind its proxy: retry in a minute.' : 'Check broker.url points at a byoc broker.',
      });
    }
    const ErrorClass = (RELAYED_KINDS.has(error.kind ?? '') && errorClassOf(error.kind)) || RemoteError;
    throw new ErrorClass(error.code, error.message, error.hint ? { hint: error.hint } : {});
  }
}
