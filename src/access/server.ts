import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ByocError, toErrorDocument, UsageError } from '../errors.js';
import { bodies, bodyAccepted, describeZodError, listQuery, MAX_BODY_BYTES } from './api.js';
import type { AccessBroker } from './broker.js';
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS, FailureLimiter, sourceAddress, type FailureLimiterOptions } from './rate-limit.js';
import { MAX_WAIT_SECONDS, type Principal } from './types.js';
import type { z } from 'zod';
import { looksLikeJwt, type AuthDescription } from '../auth/broker-auth.js';

export interface ServeOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  log?: (line: string) => void;
  /** what GET /v1/auth publishes (absent: static tokens only) */
  auth?: AuthDescription;
  /**
   * Checks a bearer that is a JWT (three dot-separated parts): an identity provider's token (broker.oidc;
   * src/auth/broker-auth.ts). It returns the principal, or throws a not-allowed ByocError saying why the token is
   * refused (answered 401); any other error (the provider unreachable) is the broker's, never a pass. Unset: a JWT
   * is refused as `oidc_not_configured`; undefined, refused without a reason.
   */
  verifyBearer?: (token: string) => Promise<Principal | undefined>;
  /** Failed-authentication limits (rate-limit.ts); `now` defaults to the broker's clock. */
  rateLimit?: Partial<FailureLimiterOptions>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What the server needs per request besides the broker. */
interface Served {
  /** aborted by stopLongPolls (the server stopping): held answers go out at once */
  stopping: AbortController;
  auth?: AuthDescription;
  verifyBearer?: ServeOptions['verifyBearer'];
  limiter: FailureLimiter;
}

/**
 * The broker's HTTP+JSON API (v1). Every call but /v1/ca, /v1/crl (PEM or DER), /v1/auth and /v1/health carries a bearer
 * token; the identity is the token's owner and nothing in a request body can change it.
 */
export function createBrokerServer(broker: AccessBroker, options: Pick<ServeOptions, 'tls' | 'log' | 'auth' | 'verifyBearer' | 'rateLimit'> = {}): Server {
  const served: Served = {
    stopping: new AbortController(),
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.verifyBearer ? { verifyBearer: options.verifyBearer } : {}),
    limiter: new FailureLimiter({ now: () => broker.now().getTime(), ...options.rateLimit }),
  };
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    handle(broker, served, request, response).catch((error: unknown) => {
      sendError(response, error);
    }).finally(() => options.log?.(`${request.method} ${request.url} ${response.statusCode}`));
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  stoppers.set(server, served.stopping);
  return server;
}

const stoppers = new WeakMap<Server, AbortController>();

/** Answers every held long-poll now (with the request as it stands), so a stopping server drains at once. */
export function stopLongPolls(server: Server): void {
  stoppers.get(server)?.abort();
}

export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** A path and query made only of what byoc sends: routed as they are, no URL object (which normalises the rest). */
const PLAIN_TARGET = /^\/(?!\/)[A-Za-z0-9/_-]*(?:\?[^#]*)?$/;

function target(raw: string): { pathname: string; searchParams: URLSearchParams } {
  if (!PLAIN_TARGET.test(raw)) return new URL(raw, 'http://broker.invalid');
  const query = raw.indexOf('?');
  return query === -1 ? { pathname: raw, searchParams: new URLSearchParams() } : { pathname: raw.slice(0, query), searchParams: new URLSearchParams(raw.slice(query + 1)) };
}

async function handle(broker: AccessBroker, served: Served, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = target(request.url ?? '/');
  const method = request.method ?? 'GET';
  const route = `${method} ${url.pathname}`;

  if (route === 'GET /v1/health') return send(response, 200, { ok: true });
  if (route === 'GET /v1/ca') {
    response.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(await broker.caCertificate());
    return;
  }
  // How to sign in here (public: the CLI needs only the broker's URL to start byoc login)
  if (route === 'GET /v1/auth') return send(response, 200, served.auth ?? { methods: ['token'] });
  if (route === 'GET /v1/crl') return sendCrl(broker, served, request, response);
  if (!url.pathname.startsWith('/v1/')) throw new HttpError(404, 'not_found', `no such endpoint: ${route}`);

  const actor = await authenticate(broker, served, request);

  if (route === 'GET /v1/whoami') return send(response, 200, { identity: actor.identity, groups: actor.groups, via: actor.via, ...(actor.tokenId ? { tokenId: actor.tokenId } : {}) });
  if (url.pathname === '/v1/tokens' || url.pathname.startsWith('/v1/tokens/')) return handleTokens(broker, actor, method, url.pathname, request, response);
  if (route === 'POST /v1/requests') {
    const body = await readBody(request, 'create');
    return send(response, 201, await broker.create(actor, body));
  }
  if (route === 'GET /v1/requests') {
    const parsed = listQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) throw new HttpError(400, 'invalid_query', describeZodError(parsed.error, 'query'));
    const query = parsed.data;
    const filter = {
      ...(query.mine === 'true' ? { mine: true } : {}),
      ...(query.reviewable === 'true' ? { reviewable: true } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.service ? { service: query.service } : {}),
    };
    return send(response, 200, { requests: await broker.list(actor, filter) });
  }
  const match = /^\/v1\/requests\/([a-z0-9-]{1,40})(?:\/(approve|deny|revoke|certificate|operator-config))?$/.exec(url.pathname);
  if (!match) throw new HttpError(404, 'not_found', `no such endpoint: ${route}`);
  const [, id, action] = match as unknown as [string, string, string | undefined];
  switch (`${method} ${action ?? ''}`) {
    case 'GET ':
      return send(response, 200, await longPoll(broker, served, actor, id, url.searchParams.get('wait'), response));
    case 'POST approve':
      return send(response, 200, await broker.approve(actor, id, (await readBody(request, 'approve')).comment));
    case 'POST deny':
      return send(response, 200, await broker.deny(actor, id, (await readBody(request, 'deny')).comment));
    case 'POST revoke':
      return send(response, 200, await broker.revoke(actor, id, (await readBody(request, 'revoke')).comment));
    case 'POST certificate':
      return send(response, 201, await broker.issueCertificate(actor, id, (await readBody(request, 'certificate')).csr));
    case 'GET operator-config': {
      const format = url.searchParams.get('format') ?? 'sql';
      if (format !== 'sql' && format !== 'xml') throw new HttpError(400, 'invalid_query', 'query.format: expected sql or xml');
      return send(response, 200, await broker.operatorConfig(actor, id, format));
    }
    default:
      throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`);
  }
}

/**
 * A request, answered at once unless `?wait=S` asks to hold a pending one until it is decided (here or by another
 * replica), lapses, S seconds pass, the client goes away or the server stops: `access wait` against a served broker
 * is told of the decision when it happens instead of asking every few seconds.
 */
async function longPoll(broker: AccessBroker, served: Served, actor: Principal, id: string, wait: string | null, response: ServerResponse): Promise<unknown> {
  if (wait !== null && !/^\d{1,2}$/.test(wait)) throw new HttpError(400, 'invalid_query', `query.wait: expected whole seconds from 0 to ${MAX_WAIT_SECONDS}; got ${JSON.stringify(wait)}`);
  const seconds = wait === null ? 0 : Math.min(Number(wait), MAX_WAIT_SECONDS);
  let request = await broker.get(actor, id);
  if (seconds === 0 || request.status !== 'pending') return request;
  const gone = new AbortController();
  const stop = () => gone.abort();
  response.once('close', stop);
  served.stopping.signal.addEventListener('abort', stop, { once: true });
  try {
    // a pending request lapses at pendingUntil without any write announcing it: no longer than that
    const deadline = Math.min(broker.now().getTime() + seconds * 1000, Date.parse(request.pendingUntil) + 100);
    for (let left = deadline - broker.now().getTime(); request.status === 'pending' && left > 0; left = deadline - broker.now().getTime()) {
      const why = await broker.untilChange(left, gone.signal);
      request = await broker.get(actor, id);
      if (why !== 'changed') break;
    }
    return request;
  } finally {
    response.off('close', stop);
    served.stopping.signal.removeEventListener('abort', stop);
  }
}

/**
 * The CRL, for servers to fetch without a token: PEM by default, DER with `Accept: application/pkix-crl`. The
 * JSON twin (`Accept: application/json`, what byoc asks for) also maps serials to requests, so it takes a token.
 */
async function sendCrl(broker: AccessBroker, served: Served, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const accept = request.headers.accept ?? '';
  // Fresh on every fetch: a revoke must reach a server that polls, never a cached list.
  const headers = { 'cache-control': 'no-cache' };
  if (accept.includes('application/pkix-crl')) {
    const { crlDer } = await import('../pki/crl.js');
    const der = crlDer((await broker.crl()).pem);
    response.writeHead(200, { ...headers, 'content-type': 'application/pkix-crl', 'content-length': der.length }).end(der);
    return;
  }
  if (accept.includes('application/json')) {
    await authenticate(broker, served, request);
    const text = JSON.stringify(await broker.crl());
    response.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    return;
  }
  const { pem } = await broker.crl();
  response.writeHead(200, { ...headers, 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem) }).end(pem);
}

/** Token administration (`byoc broker token` through the served API): identities in `broker.admins` only. */
async function handleTokens(broker: AccessBroker, actor: Principal, method: string, pathname: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const revoke = /^\/v1\/tokens\/(t-[a-z0-9]{1,20})\/revoke$/.exec(pathname);
  if (pathname !== '/v1/tokens' && !revoke) throw new HttpError(404, 'not_found', `no such endpoint: ${method} ${pathname}`);
  const allowed = revoke ? method === 'POST' : method === 'GET' || method === 'POST';
  if (!allowed) throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${pathname}`);
  if (!broker.isAdmin(actor.identity)) {
    throw new HttpError(403, 'not_an_admin', `${actor.identity} may not manage tokens: token administration is for the broker's admins`, 'Ask an identity listed in broker.admins of the served broker, or have the broker operator add you there.');
  }
  if (revoke) {
    await readBody(request, 'none');
    return send(response, 200, await broker.revokeToken(actor.identity, revoke[1]!));
  }
  if (method === 'GET') return send(response, 200, { tokens: await broker.listTokens() });
  return send(response, 201, await broker.issueToken(actor.identity, await readBody(request, 'token')));
}

const TOKEN_HINT = 'Set BYOC_TOKEN to a token from a broker admin (`byoc broker token create <you>`), or sign in with `byoc login` where the broker offers it.';

/**
 * Who the bearer is. A JWT (three dot-separated parts) goes to the identity provider's check when the broker has
 * one; anything else is a static token. Refusals are 401 and count against the source address (rate-limit.ts);
 * an address over the limit gets 429 before its credentials are looked at.
 */
async function authenticate(broker: AccessBroker, served: Served, request: IncomingMessage): Promise<Principal> {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  const address = sourceAddress(request.socket.remoteAddress);
  const retryAfter = served.limiter.retryAfter(address);
  if (retryAfter !== undefined) {
    throw new HttpError(
      429,
      'too_many_failures',
      `too many failed authentications from ${address} (${AUTH_FAILURE_LIMIT} within ${AUTH_FAILURE_WINDOW_MS / 1000} s): refused for ${retryAfter} s more, whatever the credentials`,
      `Check BYOC_TOKEN (or byoc login) and retry after ${retryAfter} s.`,
      { 'retry-after': String(retryAfter) },
    );
  }
  // No credentials at all guess nothing: not counted (a client that forgot its token is told so, not blocked).
  // RFC 6750 §3: a 401 names the scheme; a bearer that was sent and refused is an invalid_token (the code in the body says which way).
  if (!token) throw new HttpError(401, 'unauthenticated', 'no bearer token was sent', TOKEN_HINT, { 'www-authenticate': 'Bearer realm="byoc"' });
  const refuse = (code: string, message: string, hint: string) => {
    served.limiter.fail(address);
    return new HttpError(401, code, message, hint, { 'www-authenticate': `Bearer realm="byoc", error="invalid_token"` });
  };
  if (looksLikeJwt(token)) {
    if (!served.verifyBearer) {
      throw refuse('oidc_not_configured', 'this broker takes no identity-provider tokens (broker.oidc is not configured)', 'Set BYOC_TOKEN to a token from `byoc broker token create <you>` (ask the broker operator).');
    }
    let principal: Principal | undefined;
    try {
      principal = await served.verifyBearer(token);
    } catch (error) {
      if (error instanceof ByocError && error.kind === 'not-allowed') throw refuse(error.code, error.message, error.hint ?? 'Sign in again: byoc login');
      throw error;
    }
    if (!principal) throw refuse('unauthenticated', 'the identity-provider token is not valid', 'Sign in again: byoc login');
    return principal;
  }
  const found = await broker.authenticateToken(token);
  if ('identity' in found) return found;
  if (found.reason === 'expired') {
    throw refuse('token_expired', `the bearer token ${found.token.id} (${found.token.identity}) expired at ${found.token.expiresAt}`, `Ask a broker admin for a new one: byoc broker token create ${found.token.identity} --ttl 30d`);
  }
  if (found.reason === 'revoked') {
    throw refuse('token_revoked', `the bearer token ${found.token.id} (${found.token.identity}) was revoked at ${found.token.revokedAt} by ${found.token.revokedBy}`, `Ask a broker admin for a new one (byoc broker token create ${found.token.identity}), and remove the old one from wherever it is stored.`);
  }
  throw refuse('unauthenticated', 'the bearer token is not valid', TOKEN_HINT);
}

async function readBody<K extends keyof typeof bodies>(request: IncomingMessage, kind: K): Promise<z.infer<(typeof bodies)[K]>> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(400, 'body_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`);
  // Events rather than `for await`: the async iterator costs a few promise hops per chunk on every request.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.removeAllListeners('data');
        request.resume();
        reject(new HttpError(400, 'body_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (bodyAccepted[kind](json)) return json as z.infer<(typeof bodies)[K]>;
  const parsed = bodies[kind].safeParse(json);
  if (!parsed.success) throw new HttpError(400, 'invalid_body', describeZodError(parsed.error, 'body'));
  return parsed.data as z.infer<(typeof bodies)[K]>;
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

const STATUS_BY_KIND: Record<string, number> = { usage: 400, config: 422, 'not-allowed': 403, remote: 502, network: 502, pending: 409 };

function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof HttpError) {
    const kind = error.status === 401 || error.status === 403 || error.status === 429 ? 'not-allowed' : 'usage';
    return send(response, error.status, { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), kind } }, error.headers);
  }
  if (error instanceof ByocError) {
    const status = error instanceof UsageError && error.code.endsWith('not_found') ? 404 : (STATUS_BY_KIND[error.kind] ?? 500);
    return send(response, status, { error: { ...toErrorDocument(error).error, kind: error.kind } });
  }
  send(response, 500, { error: { code: 'internal', message: 'the broker failed to handle the request', kind: 'remote' } });
}
