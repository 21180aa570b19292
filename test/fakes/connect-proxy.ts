import http from 'node:http';
import net from 'node:net';

export interface FakeConnectProxy {
  port: number;
  url: string;
  /** The CONNECT targets as requested (`host:port`, IPv6 in brackets). */
  targets: string[];
  close(): Promise<void>;
}

/**
 * A minimal HTTP CONNECT proxy on 127.0.0.1. Name targets resolve only through `names` (like
 * tailscaled's HTTP proxy resolving tailnet names); an unknown name or a failed connection gets 502.
 */
export async function startConnectProxy(
  names: Record<string, string> = {},
  options: { /** answer every CONNECT with this status instead (a proxy whose policy refuses the target) */ refuse?: { status: number; reason: string } } = {},
): Promise<FakeConnectProxy> {
  const targets: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const server = http.createServer((_request, response) => {
    response.writeHead(405, { 'content-type': 'text/plain' }).end('only CONNECT is supported\n');
  });
  server.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    track(client);
    const target = request.url ?? '';
    targets.push(target);
    if (options.refuse) {
      const { status, reason } = options.refuse;
      const challenge = status === 407 ? 'Proxy-Authenticate: Basic realm="proxy"\r\n' : '';
      client.end(`HTTP/1.1 ${status} ${reason}\r\n${challenge}Content-Length: 0\r\n\r\n`);
      return;
    }
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    const host = match?.[1];
    const address = host === undefined ? undefined : net.isIP(host) ? host : names[host.toLowerCase()];
    if (address === undefined || match === null) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = net.connect({ host: address, port: Number(match[2]) });
    track(upstream);
    upstream.once('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    targets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
