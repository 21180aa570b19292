import { chmodSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { tempDir } from '../fs.js';

interface LocalApiCall {
  method: string;
  url: string;
  host: string | undefined;
  secTailscale: string | undefined;
}

/** One recorded answer: a status code and a body (a fixture's bytes), or never answering (an unanswered disco ping). */
export type LocalApiReply = { status?: number; body: string } | 'hang';

export interface FakeLocalApi {
  socket: string;
  calls: LocalApiCall[];
  close(): Promise<void>;
}

/**
 * A fake tailscaled LocalAPI on a unix socket in a temp folder, replaying recorded JSON. `routes` maps
 * `METHOD /path` (no query) to a reply or a list of replies given in turn (the last one repeats). Like
 * tailscaled, it refuses a Host other than local-tailscaled.sock with 403; an unrouted request is a 404 the
 * test will see, never a silent success.
 */
export async function startFakeLocalApi(routes: Record<string, LocalApiReply | LocalApiReply[]>): Promise<FakeLocalApi> {
  const socket = path.join(tempDir(), 'tailscaled.sock');
  const calls: LocalApiCall[] = [];
  const served = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    calls.push({ method: req.method ?? '', url, host: req.headers.host, secTailscale: req.headers['sec-tailscale'] as string | undefined });
    if (req.headers.host !== 'local-tailscaled.sock') {
      res.writeHead(403).end('invalid localapi request\n');
      return;
    }
    const key = `${req.method} ${url.split('?')[0]}`;
    const route = routes[key];
    if (route === undefined) {
      res.writeHead(404).end(`fake LocalAPI: nothing recorded for ${key}\n`);
      return;
    }
    const list = Array.isArray(route) ? route : [route];
    const index = served.get(key) ?? 0;
    served.set(key, index + 1);
    const reply = list[Math.min(index, list.length - 1)]!;
    if (reply === 'hang') {
      hanging.add(res);
      return;
    }
    res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json' }).end(reply.body);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  chmodSync(socket, 0o666);
  return {
    socket,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
