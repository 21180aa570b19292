import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ByocError, toErrorDocument, UsageError } from '../errors.js';
import { bodies, bodyAccepted, describeZodError, listQuery, MAX_BODY_BYTES } from './api.js';
import type { AccessBroker } from './broker.js';
import type { z } from 'zod';
import { looksLikeJwt, type AuthDescription, type Principal } from '../auth/broker-auth.js';

export interface ServeOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  log?: (line: string) => void;
  /** what GET /v1/auth publishes (absent: static tokens only) */
  auth?: AuthDescription;
  /** checks an identity provider's JWT (broker.oidc; src/auth/broker-auth.ts); absent: a JWT is refused */
  verifyBearer?: (token: string) => Promise<Principal>;
}

type HandlerOptions = Pick<ServeOptions, 'tls' | 'log' | 'auth' | 'verifyBearer'>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * The broker's HTTP+JSON API (v1). Every call but /v1/ca, /v1/crl (PEM or DER), /v1/auth and /v1/health carries a bearer
 * token; the identity is the token's owner and nothing in a request body can change it.
 */
export function createBrokerServer(broker: AccessBroker, options: Pick<ServeOptions, 'tls' | 'log' | 'auth' | 'verifyBearer'> = {}): Server {
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    handle(broker, options, request, response).catch((error: unknown) => {
      sendError(response, error);
    }).finally(() => options.log?.(`${request.method} ${request.url} ${response.statusCode}`));
  };
  return options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
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

async function handle(broker: AccessBroker, options: HandlerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = target(request.url ?? '/');
  const method = request.method ?? 'GET';
  const route = `${method} ${url.pathname}`;

  if (route === 'GET /v1/health') return send(response, 200, { ok: true });
  if (route === 'GET /v1/ca') {
    response.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(await broker.caCertificate());
    return;
  }
  // How to sign in here (public: the CLI needs only the broker's URL to start byoc login)
  if (route === 'GET /v1/auth') return send(response, 200, options.auth ?? { methods: ['token'] });
  if (route === 'GET /v1/crl') return sendCrl(broker, options, request, response);
  if (!url.pathname.startsWith('/v1/')) throw new HttpError(404, 'not_found', `no such endpoint: ${route}`);

  const actor = await authenticate(broker, options, request);

  if (route === 'GET /v1/whoami') return send(response, 200, { identity: actor });
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
      return send(response, 200, await broker.get(actor, id));
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
 * The CRL, for servers to fetch without a token: PEM by default, DER with `Accept: application/pkix-crl`. The
 * JSON twin (`Accept: application/json`, what byoc asks for) also maps serials to requests, so it takes a token.
 */
async function sendCrl(broker: AccessBroker, options: HandlerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
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
    await authenticate(broker, options, request);
    const text = JSON.stringify(await broker.crl());
    response.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    return;
  }
  const { pem } = await broker.crl();
  response.writeHead(200, { ...headers, 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem) }).end(pem);
}

async function authenticate(broker: AccessBroker, options: HandlerOptions, request: IncomingMessage): Promise<string> {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  const hint = options.verifyBearer
    ? 'Sign in with byoc login, or set BYOC_TOKEN to the token from `byoc broker token create <you>` (ask the broker operator).'
    : 'Set BYOC_TOKEN to the token from `byoc broker token create <you>` (ask the broker operator).';
  if (!token) throw new HttpError(401, 'unauthenticated', 'no bearer token was sent', hint);
  if (looksLikeJwt(token)) return (await verifiedJwt(options, token)).identity;
  const identity = await broker.authenticate(token);
  if (!identity) throw new HttpError(401, 'unauthenticated', 'the bearer token is not valid', hint);
  return identity;
}

/** An identity provider's token: checked by broker.oidc's verifier; every refusal is a 401 that says why. */
async function verifiedJwt(options: HandlerOptions, token: string): Promise<Principal> {
  if (!options.verifyBearer) {
    throw new HttpError(401, 'oidc_not_configured', 'this broker takes no identity-provider tokens (broker.oidc is not configured)', 'Set BYOC_TOKEN to a token from `byoc broker token create <you>` (ask the broker operator).');
  }
  try {
    return await options.verifyBearer(token);
  } catch (error) {
    if (error instanceof ByocError && error.kind === 'not-allowed') throw new HttpError(401, error.code, error.message, error.hint);
    throw error;
  }
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

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

const STATUS_BY_KIND: Record<string, number> = { usage: 400, config: 422, 'not-allowed': 403, remote: 502, network: 502, pending: 409 };

function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof HttpError) {
    return send(response, error.status, { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), kind: error.status === 401 ? 'not-allowed' : 'usage' } });
  }
  if (error instanceof ByocError) {
    const status = error instanceof UsageError && error.code.endsWith('not_found') ? 404 : (STATUS_BY_KIND[error.kind] ?? 500);
    return send(response, status, { error: { ...toErrorDocument(error).error, kind: error.kind } });
  }
  send(response, 500, { error: { code: 'internal', message: 'the broker failed to handle the request', kind: 'remote' } });
}
