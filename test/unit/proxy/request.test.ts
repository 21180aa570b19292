/** How the proxy reads one request: its Host, its password, its SQL and which of its parameters go on. */
import { describe, expect, it } from 'vitest';
import { errorBody, hostAllowed, passwordOf, samePassword, splitParameters, statementOf } from '../../../src/proxy/request.js';

describe('hostAllowed', () => {
  it('takes only the proxy\'s own names with its port, IPv6 in brackets', () => {
    // Given a proxy on 127.0.0.1 / localhost port 8123, and one on ::1
    const v4 = ['127.0.0.1', 'localhost'];
    // Then its own address and name pass (case-insensitively), anything else does not
    expect(hostAllowed('127.0.0.1:8123', 8123, v4)).toBe(true);
    expect(hostAllowed('LocalHost:8123', 8123, v4)).toBe(true);
    expect(hostAllowed('[::1]:8123', 8123, ['::1', 'localhost'])).toBe(true);
    for (const host of ['127.0.0.1', '127.0.0.1:8124', 'evil.example:8123', '127.0.0.2:8123', '[::1]:8123', '']) expect(hostAllowed(host, 8123, v4), host).toBe(false);
    expect(hostAllowed(undefined, 8123, v4)).toBe(false);
  });
});

describe('passwordOf and samePassword', () => {
  it('reads basic auth (any user, a colon in the password kept), X-ClickHouse-Key, then ?password=', () => {
    const basic = (text: string) => ({ authorization: `Basic ${Buffer.from(text).toString('base64')}` });
    expect(passwordOf(basic('anyone:s3:cret'), new URLSearchParams())).toBe('s3:cret');
    expect(passwordOf({ 'x-clickhouse-key': 'k' }, new URLSearchParams('password=p'))).toBe('k');
    expect(passwordOf({}, new URLSearchParams('password=p'))).toBe('p');
    expect(passwordOf({}, new URLSearchParams())).toBeUndefined();
  });

  it('compares whole passwords only', () => {
    expect(samePassword('abc', 'abc')).toBe(true);
    for (const given of ['ab', 'abcd', 'ABC', '', undefined]) expect(samePassword(given, 'abc'), String(given)).toBe(false);
  });
});

describe('splitParameters', () => {
  it('keeps harmless settings in order, names the replaced tags and the dropped rest, never the password', () => {
    // Given a client's URL parameters
    const split = splitParameters(new URLSearchParams('query=SELECT%201&database=system&max_threads=2&query_id=x&log_queries=0&param_id=7&output_format_json_quote_64bit_integers=0&password=p&readonly=0&session_id=s&enable_http_compression=1'));
    // Then
    expect(split.query).toBe('SELECT 1');
    expect(split.kept).toEqual([['database', 'system'], ['max_threads', '2'], ['param_id', '7'], ['output_format_json_quote_64bit_integers', '0']]);
    expect(split.replaced).toEqual(['query_id', 'readonly']);
    expect(split.dropped).toEqual(['log_queries', 'session_id', 'enable_http_compression']);
  });
});

describe('statementOf and errorBody', () => {
  it("puts the query parameter, a newline, then the body, as ClickHouse does", () => {
    expect(statementOf('SELECT 1', 'FORMAT TSV')).toBe('SELECT 1\nFORMAT TSV');
    expect(statementOf(undefined, 'SELECT 1')).toBe('SELECT 1');
    expect(statementOf('SELECT 1', '')).toBe('SELECT 1');
  });

  it('writes an error as ClickHouse does', () => {
    expect(errorBody({ code: 497, type: 'ACCESS_DENIED', message: 'no' })).toBe('Code: 497. DB::Exception: no. (ACCESS_DENIED)\n');
  });
});
