import { isIP, isIPv6 } from 'node:net';
import { RemoteError, UsageError, type ByocError } from '../errors.js';

/** Where `byoc broker serve` listens. */
export interface ListenAddress {
  /** an IP address or a host name, without brackets */
  host: string;
  /** 0 lets the system pick a free port */
  port: number;
}

const EXAMPLE = '127.0.0.1:8787';
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * `host:port` or `[ipv6]:port` as given to --listen (or broker.listen), or a UsageError (exit 2) that says what
 * is wrong with it and shows a value that works.
 */
export function parseListenAddress(text: string): ListenAddress {
  const value = text.trim();
  const refuse = (why: string, example = EXAMPLE) =>
    new UsageError('invalid_listen', `listen address "${text}": ${why}`, {
      hint: `Use host:port, e.g. --listen ${example} (this machine only), --listen 0.0.0.0:8443 (every interface, with --tls-cert and --tls-key) or --listen [::1]:8787.`,
    });
  if (value === '') throw refuse('it is empty');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/i.exec(value);
  if (scheme) throw refuse('give host:port without a scheme', scheme[1]!.replace(/\/.*$/, '') || EXAMPLE);
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
    if (!bracketed) throw refuse('an IPv6 address in brackets must be followed by :port');
    host = bracketed[1]!;
    if (!isIPv6(host)) throw refuse(`${host || 'the part in brackets'} is not an IPv6 address`);
    if (bracketed[2] === undefined) throw refuse('it has no port', `[${host}]:8787`);
    portText = bracketed[2];
  } else {
    const colons = value.split(':').length - 1;
    if (colons === 0) throw refuse('it has no port', `${value}:8787`);
    if (colons > 1) {
      const head = value.slice(0, value.lastIndexOf(':'));
      const tail = value.slice(value.lastIndexOf(':') + 1);
      throw refuse('an IPv6 address goes in brackets', isIPv6(head) && /^\d+$/.test(tail) ? `[${head}]:${tail}` : isIPv6(value) ? `[${value}]:8787` : '[::1]:8787');
    }
    [host, portText] = value.split(':') as [string, string];
    if (host === '') throw refuse('it has no host', `127.0.0.1:${portText || '8787'}`);
    if (!isIP(host) && !HOST_NAME.test(host)) throw refuse(`${host} is neither an IP address nor a host name`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw refuse(`the port "${portText}" is not a number`);
  const port = Number(portText);
  if (port > 65_535) throw refuse(`the port ${port} is above 65535`);
  return { host, port };
}

/** `host:port` with IPv6 in brackets, as in a URL. */
export function formatHostPort(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Only this machine can reach it, so plain HTTP carries no token over a network. */
export function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === 'localhost' || host === '::1';
}

/**
 * Why the server could not listen, as an error with a next step: a taken port or a missing permission is a
 * fact about this machine (exit 5), an address this machine does not have is bad input (exit 2). Anything
 * else is undefined: the caller rethrows it as it is (a bug).
 */
export function listenError(error: unknown, address: ListenAddress): ByocError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = formatHostPort(address.host, address.port);
  const other = formatHostPort(address.host, address.port === 0 ? 8787 : address.port < 1024 ? 8443 : address.port + 1);
  switch (code) {
    case 'EADDRINUSE':
      return new RemoteError('listen_address_in_use', `cannot listen on ${where}: port ${address.port} is already in use`, {
        hint: `Another process holds port ${address.port} (see which: ss -ltnp 'sport = :${address.port}', or lsof -i :${address.port}); if it is a broker already serving, use that one, else stop it or pick another port: --listen ${other}.`,
        cause: error,
      });
    case 'EACCES':
      return new RemoteError('listen_not_permitted', `cannot listen on ${where}: permission denied`, {
        hint:
          address.port < 1024
            ? `Ports below 1024 need root or the CAP_NET_BIND_SERVICE capability; pick a port above 1023: --listen ${other} (or put a proxy on port ${address.port}).`
            : `The system refused port ${address.port} to this user (a security policy?); pick another port: --listen ${other}.`,
        cause: error,
      });
    case 'EADDRNOTAVAIL':
      return new UsageError('invalid_listen', `cannot listen on ${where}: no interface of this machine has the address ${address.host}`, {
        hint: `Use an address this machine has (ip -brief address lists them), e.g. --listen ${formatHostPort('127.0.0.1', address.port)} for this machine only or --listen ${formatHostPort('0.0.0.0', address.port)} for every interface.`,
        cause: error,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new UsageError('invalid_listen', `cannot listen on ${where}: the host name ${address.host} does not resolve here`, {
        hint: `Use an IP address of this machine, e.g. --listen ${formatHostPort('127.0.0.1', address.port)}.`,
        cause: error,
      });
    default:
      return undefined;
  }
}
