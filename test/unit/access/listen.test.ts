import { describe, expect, it } from 'vitest';
import { formatHostPort, isLoopback, listenError, parseListenAddress } from '../../../src/access/listen.js';
import { RemoteError, UsageError } from '../../../src/errors.js';

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:8787', '127.0.0.1', 8787],
    ['0.0.0.0:8443', '0.0.0.0', 8443],
    ['localhost:80', 'localhost', 80],
    ['broker.internal.example:8443', 'broker.internal.example', 8443],
    ['[::1]:8787', '::1', 8787],
    ['[::]:8443', '::', 8443],
    ['[fd7a:115c:a1e0::1]:8443', 'fd7a:115c:a1e0::1', 8443],
    ['127.0.0.1:0', '127.0.0.1', 0],
    [' 127.0.0.1:65535 ', '127.0.0.1', 65535],
  ])('reads %j as host %s, port %d', (text, host, port) => {
    expect(parseListenAddress(text)).toEqual({ host, port });
  });

  it.each([
    ['', 'it is empty', '127.0.0.1:8787'],
    ['127.0.0.1', 'it has no port', '127.0.0.1:8787'],
    ['broker.example', 'it has no port', 'broker.example:8787'],
    [':8787', 'it has no host', '127.0.0.1:8787'],
    ['::1:8787', 'an IPv6 address goes in brackets', '[::1]:8787'],
    ['fd7a:115c:a1e0::1:8443', 'an IPv6 address goes in brackets', '[fd7a:115c:a1e0::1]:8443'],
    ['[::1]', 'it has no port', '[::1]:8787'],
    ['[::1]8787', 'an IPv6 address in brackets must be followed by :port', '127.0.0.1:8787'],
    ['[not-ipv6]:8787', 'not-ipv6 is not an IPv6 address', '127.0.0.1:8787'],
    ['127.0.0.1:99999', 'the port 99999 is above 65535', '127.0.0.1:8787'],
    ['127.0.0.1:http', 'the port "http" is not a number', '127.0.0.1:8787'],
    ['127.0.0.1:-1', 'the port "-1" is not a number', '127.0.0.1:8787'],
    ['127.0.0.1:', 'the port "" is not a number', '127.0.0.1:8787'],
    ['http://127.0.0.1:8787', 'give host:port without a scheme', '127.0.0.1:8787'],
    ['bro ker:8787', 'bro ker is neither an IP address nor a host name', '127.0.0.1:8787'],
    ['-bad-:8787', '-bad- is neither an IP address nor a host name', '127.0.0.1:8787'],
  ])('refuses %j (exit 2): %s, showing --listen %s', (text, why, example) => {
    // Given a listen address that cannot work, When it is read
    const refuse = () => parseListenAddress(text);
    // Then it is a usage error saying what is wrong, with a value that works in the hint
    expect(refuse).toThrow(UsageError);
    try {
      refuse();
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_listen', exitCode: 2, message: `listen address "${text}": ${why}` });
      expect((error as UsageError).hint).toContain(`--listen ${example}`);
    }
  });
});

describe('formatHostPort and isLoopback', () => {
  it('brackets IPv6 only', () => {
    expect(formatHostPort('::1', 8787)).toBe('[::1]:8787');
    expect(formatHostPort('127.0.0.1', 8787)).toBe('127.0.0.1:8787');
    expect(formatHostPort('broker.example', 443)).toBe('broker.example:443');
  });

  it('counts 127/8, localhost and ::1 as loopback, nothing else', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '10.0.0.1', 'broker.example', '128.0.0.1'].map(isLoopback)).toEqual([false, false, false, false, false]);
  });
});

describe('listenError', () => {
  const errno = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

  it('a taken port is exit 5, naming the port, how to find its holder and another port', () => {
    const error = listenError(errno('EADDRINUSE'), { host: '127.0.0.1', port: 8787 });
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ code: 'listen_address_in_use', exitCode: 5, message: 'cannot listen on 127.0.0.1:8787: port 8787 is already in use' });
    expect(error!.hint).toContain("ss -ltnp 'sport = :8787'");
    expect(error!.hint).toContain('--listen 127.0.0.1:8788');
  });

  it('a refused low port is exit 5, saying why and proposing a port above 1023', () => {
    const error = listenError(errno('EACCES'), { host: '0.0.0.0', port: 443 });
    expect(error).toMatchObject({ code: 'listen_not_permitted', exitCode: 5, message: 'cannot listen on 0.0.0.0:443: permission denied' });
    expect(error!.hint).toContain('CAP_NET_BIND_SERVICE');
    expect(error!.hint).toContain('--listen 0.0.0.0:8443');
  });

  it('an address this machine does not have, or a name that does not resolve, is bad input (exit 2)', () => {
    expect(listenError(errno('EADDRNOTAVAIL'), { host: '10.9.9.9', port: 8787 })).toMatchObject({ code: 'invalid_listen', exitCode: 2, hint: expect.stringContaining('--listen 127.0.0.1:8787') });
    expect(listenError(errno('ENOTFOUND'), { host: 'nosuch.example', port: 8787 })).toMatchObject({ code: 'invalid_listen', exitCode: 2, message: expect.stringContaining('nosuch.example does not resolve') });
  });

  it('leaves anything else to be reported as a bug', () => {
    expect(listenError(new Error('something else'), { host: '127.0.0.1', port: 8787 })).toBeUndefined();
  });
});
