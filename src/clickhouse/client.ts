import type { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import { NetworkError, NotAllowedError, RemoteError } from '../errors.js';

/** ClickHouse output formats byoc asks for; all exist on old (18.x) servers too. */
export type WireFormat = 'TabSeparated' | 'TabSeparatedWithNamesAndTypes' | 'TabSeparatedWithNames' | 'CSVWithNames' | 'JSONEachRow';

export interface QueryRequest {
  sql: string;
  queryId: string;
  /** absent: the SQL closes with its own FORMAT clause and is sent as written (queryRaw only) */
  format?: WireFormat | undefined;
  settings: Record<string, string | number>;
  signal?: AbortSignal | undefined;
  /**
   * The most time the query may take, first byte to last: then byoc stops it on the server and fails with
   * QueryTimeoutError. Absent: only the client's idle timeout applies.
   */
  deadlineMs?: number | undefined;
}

/** The narrow interface byoc needs from a ClickHouse client: lines of a streamed result, in batches. */
export interface ClickHouseSession {
  query(request: QueryRequest & { format: WireFormat }): Promise<AsyncIterable<string[]>>;
  /** The response body as it arrives, unparsed: for output that is ClickHouse's own text (TSV, CSV, JSONEachRow). */
  queryRaw(request: QueryRequest): Promise<AsyncIterable<Uint8Array>>;
  /** A statement with no result (SYSTEM FLUSH LOGS): sent as is, with no FORMAT clause. */
  command(sql: string, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface ClickHouseTarget {
  url: string;
  /** the byoc service and the engineer's access request, so hints name the commands to run for them */
  service?: string | undefined;
  requestId?: string | undefined;
  agent?: Agent | undefined;
  /** sent as the user agent prefix, so the customer's audit can see who ran the query */
  application: string;
  timeoutMs: number;
  /** customer credentials (audit); engineers authenticate by certificate only */
  username?: string | undefined;
  password?: string | undefined;
  /**
   * The grant's own server user, which the certificate authenticates: current ClickHouse logs the engineer in as
   * that user (`IDENTIFIED WITH ssl_certificate SAN ...`) when asked to, with no password. A proxy in front of an
   * older server (the sandbox's nginx) overrides both headers with what it derived from the certificate.
   */
  certificateUser?: string | undefined;
}

export interface ClickHouseConnector {
  connect(target: ClickHouseTarget): Promise<ClickHouseSession>;
}

declare module '../context.js' {
  interface Clients {
    clickhouse: ClickHouseConnector;
  }
}

/** A server error with ClickHouse's numeric code when it sent one. */
export class ClickHouseServerError extends RemoteError {
  constructor(
    readonly serverCode: number | undefined,
    message: string,
    hint?: string,
  ) {
    super('clickhouse_error', message, hint ? { hint } : {});
  }
}

/** The server refused for lack of rights or read-only mode; keeps the code so callers can tell which. */
/** --timeout ran out: the query was stopped on the server (or byoc says it could not confirm that). */
export class QueryTimeoutError extends RemoteError {
  constructor(seconds: number, cancelled: boolean) {
    super(
      'query_timeout',
      `the query ran longer than its time limit (${seconds}s); ${cancelled ? 'byoc cancelled it on the server' : 'byoc could not confirm that the server cancelled it (it stops at the server\'s max_execution_time)'}`,
      { hint: 'Narrow the query (a WHERE on time, a LIMIT), or raise --timeout.' },
    );
  }
}

export class ClickHouseRefusal extends NotAllowedError {
  constructor(
    readonly serverCode: number,
    message: string,
  ) {
    super('server_refused', message, { hint: 'The server allows your user read-only access to system tables; ask the customer if you need more.' });
  }
}

/** The real connector over @clickhouse/client (imported only when a command talks to ClickHouse). */
export const clickhouseConnector: ClickHouseConnector = {
  async connect(target) {
    const { createClient, ClickHouseLogLevel } = await import('@clickhouse/client');
    const withCredentials = target.username !== undefined;
    const client = createClient({
      url: target.url,
      application: target.application,
      request_timeout: target.timeoutMs,
      ...(target.agent ? { http_agent: target.agent } : {}),
      // Engineers are identified by their certificate; a basic-auth header would name a ClickHouse user instead.
      set_basic_auth_header: withCredentials,
      ...(withCredentials ? { username: target.username, password: target.password ?? '' } : {}),
      ...(target.certificateUser ? { http_headers: { 'X-ClickHouse-User': target.certificateUser, 'X-ClickHouse-SSL-Certificate-Auth': 'on' } } : {}),
      compression: { response: false, request: false },
      // byoc reports failures itself, once, on stderr; the client's own logger would print them again.
      log: { level: ClickHouseLogLevel.OFF },
    });
    /**
     * KILL QUERY over another connection of this client (same certificate, same user): ClickHouse lets every user,
     * readonly = 1 included, kill its own queries, and 18.x has no cancel-on-close for HTTP (closing the socket
     * leaves a query that sends nothing running to max_execution_time). SYNC waits until the query has ended,
     * bounded so Ctrl-C never hangs on a server that does not answer.
     */
    const cancel = async (queryId: string): Promise<boolean> => {
      try {
        await client.command({ query: `KILL QUERY WHERE query_id = ${sqlString(queryId)} SYNC`, abort_signal: AbortSignal.timeout(CANCEL_WAIT_MS) });
        return true;
      } catch {
        return false;
      }
    };
    /**
     * Sends one query under its deadline and yields its result. Whenever the query may still run on the server
     * when byoc stops reading (Ctrl-C, a closed stdout, the deadline, a consumer that stopped early, a broken
     * connection), it is cancelled there before the error (or the early end) reaches the caller.
     */
    const run = async <T, U>(request: QueryRequest, send: (signal: AbortSignal | undefined) => Promise<Readable>, map: (item: T) => U): Promise<AsyncIterable<U>> => {
      const deadline = request.deadlineMs === undefined ? undefined : AbortSignal.timeout(request.deadlineMs);
      const signal = deadline && request.signal ? AbortSignal.any([request.signal, deadline]) : (deadline ?? request.signal);
      let cancelled: Promise<boolean> | undefined;
      const cancelOnce = () => (cancelled ??= cancel(request.queryId));
      const failure = async (error: unknown): Promise<Error> => {
        // byoc stopped it (the error is then the abort's, whatever the client made of it): stop it on the server too.
        if (request.signal?.aborted) {
          await cancelOnce();
          return asError(request.signal.reason);
        }
        if (deadline?.aborted) return new QueryTimeoutError(Math.round(request.deadlineMs! / 1000), await cancelOnce());
        const translated = translateError(error, target);
        // A server error means the query is over there; anything else (a broken connection) may have left it running.
        if (!(translated instanceof ClickHouseServerError || translated instanceof ClickHouseRefusal)) await cancelOnce();
        return translated;
      };
      let source: Readable;
      try {
        source = await send(signal);
      } catch (error) {
        throw await failure(error);
      }
      // Node stops watching a request's signal once the request is sent: the response is ended here.
      const stop = () => source.destroy(asError(signal!.reason));
      signal?.addEventListener('abort', stop, { once: true });
      return (async function* () {
        let ended = false;
        try {
          for await (const item of source as AsyncIterable<T>) yield map(item);
          ended = true;
        } catch (error) {
          ended = true;
          throw await failure(error);
        } finally {
          signal?.removeEventListener('abort', stop);
          // Stopped early by the consumer (--max-rows, a closed stdout): the server may still be producing.
          if (!ended) await cancelOnce();
        }
      })();
    };
    return {
      query: (request) =>
        run(
          request,
          async (signal) =>
            (
              await client.query({
                query: request.sql,
                format: request.format,
                query_id: request.queryId,
                clickhouse_settings: request.settings,
                ...(signal ? { abort_signal: signal } : {}),
              })
            ).stream(),
          (rows: { text: string }[]) => rows.map((row) => row.text),
        ),
      queryRaw: (request) =>
        run(
          request,
          async (signal) =>
            (
              await client.exec({
                // With no format, the SQL names its own: exec sends the statement as written.
                query: request.format ? withFormat(request.sql, request.format) : request.sql,
                query_id: request.queryId,
                clickhouse_settings: request.settings,
                ...(signal ? { abort_signal: signal } : {}),
              })
            ).stream,
          (chunk: Uint8Array) => chunk,
        ),
      async command(sql, signal) {
        try {
          await client.command({ query: sql, ...(signal ? { abort_signal: signal } : {}) });
        } catch (error) {
          throw translateError(error, target);
        }
      },
      close: () => client.close(),
    };
  },
};

/** How long a cancellation may wait for the server to confirm the query ended. */
const CANCEL_WAIT_MS = 2000;

/** A ClickHouse string literal (query ids are byoc's own, but quoting never hurts). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** The SQL with a FORMAT clause, as the client's own query() builds it (trailing semicolons dropped). */
export function withFormat(sql: string, format: WireFormat): string {
  return `${sql.trim().replace(/;+\s*$/, '')} \nFORMAT ${format}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPROXY']);

/** Maps client and server failures onto byoc's error kinds; hints name the service and request when known. */
export function translateError(error: unknown, target: Pick<ClickHouseTarget, 'url' | 'service' | 'requestId'>): Error {
  const { url, service, requestId } = target;
  if (!(error instanceof Error)) return new RemoteError('clickhouse_error', String(error));
  if (error.name === 'AbortError') return error;
  const code = (error as { code?: string }).code;
  // Newer servers send the code in a header the client parses; 18.x writes it only into the text ("Code: 115, e.displayText() = ...").
  const serverCode = Number(code) || Number(/Code:\s*(\d+)/.exec(error.message)?.[1]);
  if (Number.isInteger(serverCode) && serverCode > 0) {
    const message = error.message.split('\n')[0]!.replace(/\s*\(version [^)]*\)\s*$/, '').replace(/, e\.what\(\) = DB::Exception$/, '');
    if ([164, 497, 516, 192, 193, 194, 195, 291].includes(serverCode)) {
      return new ClickHouseRefusal(serverCode, `ClickHouse refused the query: ${message}`);
    }
    return new ClickHouseServerError(serverCode, `ClickHouse error ${serverCode}: ${message}`);
  }
  const pathCheck = service ? `the path: byoc connect check ${service}` : `the network path to ${url}`;
  if (code && NETWORK_CODES.has(code)) {
    return new NetworkError('clickhouse_unreachable', `cannot reach ClickHouse at ${url}: ${code}`, { hint: `Check ${pathCheck}.` });
  }
  if (/certificate|SSL|TLS|self.signed|unable to verify/i.test(`${code ?? ''} ${error.message}`)) {
    return new NotAllowedError('tls_refused', `the TLS connection to ${url} failed: ${error.message}`, {
      hint: service
        ? `Your certificate may be expired or not trusted by the customer; check with byoc cert show ${service} and byoc connect check ${service}.`
        : `Check the CA configured for ${url} and the client certificate, if any.`,
    });
  }
  if (/\b403\b|Forbidden/.test(error.message)) {
    return new NotAllowedError('endpoint_refused', `the customer's endpoint refused your identity (${error.message.split('\n')[0]})`, {
      hint: requestId
        ? `The operator step may not be applied yet: the customer runs byoc access operator-config ${requestId}.`
        : 'The server refused this identity: check that its user exists and is allowed from here.',
    });
  }
  if (/timeout/i.test(error.message)) {
    return new NetworkError('clickhouse_timeout', `ClickHouse at ${url} did not answer in time`, { hint: `${service ? 'Raise --timeout, or check' : 'Check'} ${pathCheck}.` });
  }
  return new RemoteError('clickhouse_error', `ClickHouse request failed: ${error.message.split('\n')[0]}`);
}
