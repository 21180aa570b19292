/** Loopback helpers for the sandbox: free ports, reachability, and small HTTP calls to ClickHouse and nginx. */
import http from 'node:http';
import net from 'node:net';

/** A port the kernel considers free right now (bound on 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on 127.0.0.1:port (so a stored port can be reused). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function tcpAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface HttpCall {
  port?: number;
  socketPath?: string;
  method?: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One plain HTTP request on loopback (or a unix socket); rejects only when no answer came. */
export function httpCall(call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        ...(call.socketPath ? { socketPath: call.socketPath } : { host: '127.0.0.1', port: call.port }),
        method: call.method ?? 'GET',
        path: call.path,
        headers: { ...call.headers, ...(call.body !== undefined ? { 'content-length': Buffer.byteLength(call.body) } : {}) },
        agent: false,
        timeout: call.timeoutMs ?? 5000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${call.timeoutMs ?? 5000} ms`)));
    request.on('error', reject);
    request.end(call.body);
  });
}

/** ClickHouse's own liveness answer. */
export async function clickhousePing(port: number, timeoutMs = 1000): Promise<boolean> {
  try {
    const answer = await httpCall({ port, path: '/ping', timeoutMs });
    return answer.status === 200 && answer.body.trim() === 'Ok.';
  } catch {
    return false;
  }
}
