import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface RecordedCall {
  method: string;
  /** the raw request target, as the server received it */
  target: string;
  path: string;
  params: [string, string][];
  request: string | undefined;
  userAgent: string | undefined;
  commonName: string | undefined;
}

export interface FakeAnswer {
  status?: number;
  /** a JSON document, or raw text (a proxy's page) */
  body: unknown;
  contentType?: string;
}

export interface FakePrometheus {
  url: string;
  port: number;
  calls: RecordedCall[];
  close(): Promise<void>;
}

/** Prometheus's success envelope. */
export const success = (data: unknown, warnings?: string[]): FakeAnswer => ({ body: { status: 'success', data, ...(warnings ? { warnings } : {}) } });

/**
 * An in-process server that answers like Prometheus's HTTP API (the envelope, its error types) and records every
 * call with its raw path, parameters, X-Byoc-Request and the client certificate's CN. With a key and certificate
 * it speaks TLS and, with clientCa, requires a client certificate as the customer's proxy does.
 */
export async function startFakePrometheus(options: { answer: (call: RecordedCall) => FakeAnswer; certPem?: string; keyPem?: string; clientCa?: string }): Promise<FakePrometheus> {
  const calls: RecordedCall[] = [];
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const target = request.url ?? '/';
    const url = new URL(target, 'http://prometheus.invalid');
    const peer = 'getPeerCertificate' in request.socket ? (request.socket as TLSSocket).getPeerCertificate() : undefined;
    const header = request.headers['x-byoc-request'];
    const call: RecordedCall = {
      method: request.method ?? '',
      target,
      path: url.pathname,
      params: [...url.searchParams],
      request: typeof header === 'string' ? header : undefined,
      userAgent: request.headers['user-agent'],
      commonName: peer?.subject?.CN as string | undefined,
    };
    calls.push(call);
    request.resume();
    const answer = options.answer(call);
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    response.writeHead(answer.status ?? 200, { 'Content-Type': answer.contentType ?? (typeof answer.body === 'string' ? 'text/html' : 'application/json') });
    response.end(text);
  };
  const server = options.certPem
    ? https.createServer({ cert: options.certPem, key: options.keyPem, ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.certPem ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
