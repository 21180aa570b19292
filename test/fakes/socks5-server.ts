import net from 'node:net';

/** What a client asked the proxy to connect to, exactly as it arrived on the wire. */
interface SocksTarget {
  addressType: 'ipv4' | 'domain' | 'ipv6';
  host: string;
  port: number;
}

export interface FakeSocks5Server {
  port: number;
  /** e.g. `url('socks5h')` -> socks5h://127.0.0.1:<port> */
  url(scheme?: 'socks5' | 'socks5h'): string;
  targets: SocksTarget[];
  close(): Promise<void>;
}

const REPLY = { succeeded: 0x00, failure: 0x01, hostUnreachable: 0x04, refused: 0x05, commandNotSupported: 0x07 };

/**
 * A minimal SOCKS5 proxy on 127.0.0.1 (RFC 1928: no-authentication method, CONNECT command, IPv4 /
 * domain / IPv6 address types). Domain targets are resolved only through `names` (like tailscaled
 * resolving tailnet names); an unknown name gets "host unreachable".
 */
export async function startSocks5Server(
  names: Record<string, string> = {},
  options: { /** answer every CONNECT with this RFC 1928 reply code (2: not allowed, 4: host unreachable, 5: refused) */ reply?: number } = {},
): Promise<FakeSocks5Server> {
  const targets: SocksTarget[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const server = net.createServer((client) => {
    track(client);
    void negotiate(client).catch(() => client.destroy());
  });

  async function negotiate(client: net.Socket): Promise<void> {
    const reader = byteReader(client);
    const [version, methodCount] = await reader.read(2);
    if (version !== 5) return void client.destroy();
    const methods = await reader.read(methodCount!);
    if (!methods.includes(0x00)) {
      client.end(Buffer.from([5, 0xff]));
      return;
    }
    client.write(Buffer.from([5, 0x00]));

    const [, command, , addressType] = await reader.read(4);
    let target: SocksTarget;
    if (addressType === 0x01) {
      target = { addressType: 'ipv4', host: [...(await reader.read(4))].join('.'), port: 0 };
    } else if (addressType === 0x03) {
      const [length] = await reader.read(1);
      target = { addressType: 'domain', host: (await reader.read(length!)).toString('latin1'), port: 0 };
    } else if (addressType === 0x04) {
      const bytes = await reader.read(16);
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
      target = { addressType: 'ipv6', host: groups.join(':'), port: 0 };
    } else {
      return void client.destroy();
    }
    target.port = (await reader.read(2)).readUInt16BE(0);
    targets.push(target);

    if (command !== 0x01) return void client.end(reply(REPLY.commandNotSupported));
    if (options.reply !== undefined) return void client.end(reply(options.reply));
    const address = target.addressType === 'domain' ? names[target.host.toLowerCase()] : target.host;
    if (address === undefined) return void client.end(reply(REPLY.hostUnreachable));

    const upstream = net.connect({ host: address, port: target.port });
    track(upstream);
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      client.end(reply(error.code === 'ECONNREFUSED' ? REPLY.refused : REPLY.failure));
    });
    upstream.once('connect', () => {
      client.write(reply(REPLY.succeeded));
      const early = reader.detach();
      if (early.length > 0) upstream.write(early);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (scheme = 'socks5h') => `${scheme}://127.0.0.1:${port}`,
    targets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function reply(code: number): Buffer {
  // VER REP RSV ATYP=IPv4 BND.ADDR=0.0.0.0 BND.PORT=0
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/** Reads exact byte counts from a socket, then hands the socket (and any bytes read ahead) back. */
function byteReader(socket: net.Socket): { read(count: number): Promise<Buffer>; detach(): Buffer } {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  };
  const onEnd = (): void => {
    ended = true;
    wake?.();
  };
  socket.on('data', onData);
  socket.on('close', onEnd);
  return {
    async read(count) {
      while (buffered.length < count) {
        if (ended) throw new Error('client went away during SOCKS negotiation');
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      const out = buffered.subarray(0, count);
      buffered = buffered.subarray(count);
      return out;
    },
    detach() {
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onEnd);
      const rest = buffered;
      buffered = Buffer.alloc(0);
      return rest;
    },
  };
}
