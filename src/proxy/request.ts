import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { ALLOWED_SETTINGS } from '../clickhouse/guard.js';
import { readAtMost } from '../util/stream.js';

/** How one request to the proxy is read: who may send it, which SQL it carries, what of it goes on to the server. */

/** A refusal as ClickHouse writes one, so curl prints it and @clickhouse/client raises it with its code and message. */
export interface ClickHouseStyleError {
  status: number;
  code: number;
  type: string;
  message: string;
}

export function errorBody(error: Pick<ClickHouseStyleError, 'code' | 'type' | 'message'>): string {
  return `Code: ${error.code}. DB::Exception: ${error.message}. (${error.type})\n`;
}

/**
 * The Host header must name the proxy itself: a web page the engineer opens can make the browser send requests to
 * a loopback port (a form POST, or DNS rebinding, where the page's own name resolves to 127.0.0.1), but its Host
 * is then the page's name, never ours.
 */
export function hostAllowed(host: string | undefined, port: number, addresses: readonly string[]): boolean {
  if (host === undefined) return false;
  const given = host.trim().toLowerCase();
  return addresses.some((address) => given === `${address.includes(':') ? `[${address}]` : address}:${port}`);
}

/**
 * The password a ClickHouse client sends, in any of the three ways ClickHouse reads one: basic auth (any user
 * name), X-ClickHouse-Key, or the `password` parameter.
 */
export function passwordOf(headers: IncomingHttpHeaders, params: URLSearchParams): string | undefined {
  const basic = /^Basic\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : decoded;
  }
  const key = headers['x-clickhouse-key'];
  if (typeof key === 'string') return key;
  return params.get('password') ?? undefined;
}

/** Constant time whatever the lengths: both sides are hashed first, so neither the length nor a prefix leaks. */
export function samePassword(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Parameters byoc sets itself, so the customer's query_log attributes the statement to the request and the
 * limits hold: the client's are dropped and runTagged's used (query_id, log_comment, readonly,
 * max_execution_time). `query` is folded into the body, which alone carries the checked SQL.
 */
const OWN = new Set(['query', 'query_id', 'log_comment', 'readonly', 'max_execution_time']);

/**
 * What else a client may set, by allowlist (ClickHouse has hundreds of settings, and new ones come with each
 * release; one that turns off query logging, like log_queries=0, or widens a limit must never pass by default):
 * the limits a statement's own SETTINGS clause may set (the guard's list), how the answer is written, and the
 * HTTP interface's progress headers. Everything else is dropped and named in the log line: user, password and
 * quota_key (the certificate is the identity), session_id (a session would keep state between checked
 * statements), enable_http_compression and compress (the proxy relays plain bytes), add_http_cors_header (a
 * browser page must never read the answer), log_* and the rest.
 */
const CLIENT_SETTINGS = new Set([
  ...ALLOWED_SETTINGS.filter((name) => !OWN.has(name)),
  'database',
  'default_format',
  'extremes',
  'date_time_output_format',
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
]);
const CLIENT_PREFIXES = ['output_format_', 'format_', 'param_'];

export interface SplitParameters {
  /** the `query` parameter, which ClickHouse puts before the body */
  query: string | undefined;
  /** forwarded as given, in order */
  kept: [string, string][];
  /** the client's own values of what byoc sets (query_id, log_comment, readonly, max_execution_time) */
  replaced: string[];
  /** names dropped (the password never appears here: it is consumed, not reported) */
  dropped: string[];
}

export function splitParameters(params: URLSearchParams): SplitParameters {
  const kept: [string, string][] = [];
  const replaced: string[] = [];
  const dropped: string[] = [];
  for (const [name, value] of params) {
    if (name === 'query' || name === 'password') continue;
    if (CLIENT_SETTINGS.has(name) || CLIENT_PREFIXES.some((prefix) => name.startsWith(prefix))) kept.push([name, value]);
    else if (OWN.has(name)) {
      if (!replaced.includes(name)) replaced.push(name);
    } else if (!dropped.includes(name)) dropped.push(name);
  }
  return { query: params.get('query') ?? undefined, kept, replaced, dropped };
}

/** ClickHouse's rule: the `query` parameter, a newline, then the body (`query` alone or the body alone as they are). */
export function statementOf(query: string | undefined, body: string): string {
  if (query === undefined || query === '') return body;
  return body === '' ? query : `${query}\n${body}`;
}

/** Plenty for any statement a person or a tool writes; an INSERT's data, which the guard refuses anyway, is not. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The body as text, decompressed when the client compressed it (gzip or deflate, as ClickHouse accepts with
 * Content-Encoding), at most MAX_BODY_BYTES before and after; a refusal otherwise.
 */
export async function readBody(request: IncomingMessage): Promise<{ text: string } | { refused: ClickHouseStyleError }> {
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (!['identity', 'gzip', 'x-gzip', 'deflate'].includes(encoding)) {
    return { refused: { status: 415, code: 36, type: 'BAD_ARGUMENTS', message: `byoc proxy reads a body sent plain, gzip or deflate, not ${encoding}` } };
  }
  const tooLarge = { refused: { status: 413, code: 36, type: 'BAD_ARGUMENTS', message: `byoc proxy refused the request: its SQL is larger than ${MAX_BODY_BYTES} bytes` } };
  const raw = await readAtMost(request as AsyncIterable<Buffer>, MAX_BODY_BYTES);
  if (!raw) return tooLarge;
  if (encoding === 'identity' || raw.length === 0) return { text: raw.toString('utf8') };
  try {
    const inflated = await (encoding === 'deflate' ? promisify(inflate) : promisify(gunzip))(raw, { maxOutputLength: MAX_BODY_BYTES });
    return { text: inflated.toString('utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) return tooLarge;
    return { refused: { status: 400, code: 36, type: 'BAD_ARGUMENTS', message: `byoc proxy could not decompress the ${encoding} body: ${(error as Error).message}` } };
  }
}

/**
 * Headers of the server's answer that reach the client: its type and encoding, and ClickHouse's own (query id,
 * format, summary, exception code). Not CORS headers (a browser page must not read the answer), nor hop-by-hop ones.
 */
export function relayedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const relayed: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (name === 'content-type' || name === 'content-encoding' || name.startsWith('x-clickhouse-')) relayed[name] = value;
  }
  return relayed;
}
