import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';

export interface FakeHttpsServer {
  port: number;
  /** The SNI names the server saw, one per TLS connection. */
  servernames: Array<string | false | null>;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 answering every request with JSON naming the SNI it saw. */
export async function startHttpsServer(credentials: { certPem: string; keyPem: string }): Promise<FakeHttpsServer> {
  const servernames: Array<string | false | null> = [];
  const server = https.createServer({ cert: credentials.certPem, key: credentials.keyPem }, (request, response) => {
    const socket = request.socket as tls.TLSSocket;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ servername: socket.servername, path: request.url }));
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => servernames.push(socket.servername));
  // Clients that give up mid-handshake (a probe that timed out, a rejected certificate) are expected.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    servernames,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** GET `url` with `options` (agent, TLS options); resolves with the status and the parsed JSON body. */
export function getJson(url: URL, options: https.RequestOptions): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { ...options, method: 'GET' }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    request.on('error', reject);
    request.end();
  });
}
