import https from 'node:https';
import net from 'node:net';

export interface FakeServer {
  port: number;
  close(): Promise<void>;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

/**
 * A TLS endpoint that refuses the client's certificate the way OpenSSL servers do: a fatal alert (42 bad
 * certificate, 44 revoked, 45 expired, 48 unknown CA, 116 certificate required). It answers the ClientHello
 * with the alert record directly; the client sees the same alert as after a full handshake.
 */
export async function startTlsAlertServer(alert: number): Promise<FakeServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // record type 21 (alert), TLS 1.2 record version, length 2, level 2 (fatal), description
    socket.once('data', () => socket.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, alert])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: closer(server, sockets) };
}

/** nginx's own error page, as it sends it for 400 (client certificate), 403 and 502-504. */
export function nginxPage(status: number, reason: string, detail?: string): string {
  const center = detail ? `<center>${detail}</center>\r\n` : '';
  return `<html>\r\n<head><title>${status} ${detail ?? reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n${center}<hr><center>nginx/1.27.0</center>\r\n</body>\r\n</html>\r\n`;
}

/** An HTTPS endpoint that answers every request with one status and body, like nginx refusing or failing upstream. */
export async function startPageServer(options: { certPem: string; keyPem: string; status: number; body: string; contentType?: string }): Promise<FakeServer> {
  const server = https.createServer({ cert: options.certPem, key: options.keyPem }, (request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(options.status, { 'content-type': options.contentType ?? 'text/html', server: 'nginx/1.27.0' }).end(options.body));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
