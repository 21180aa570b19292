import type { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import type { StreamingSession } from './http.js';
import { abortReason, NetworkError, NotAllowedError, RemoteError } from '../errors.js';
import { diagnose, endpointContext, failureOf, httpFailure, lastFailedAnswer, type Diagnosis, type DiagnosisContext } from '../net/failure.js';

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
  /** the settings that hold the URL and the CA, for hints (default: services.<service>.clickhouse.url / .caFile) */
  settings?: { url: string; caFile: string } | undefined;
}

/**
 * Two transports, one target: `connect` is @clickhouse/client, for the customer's audit and its schema probes
 * (rows as the client parses them, basic auth); `stream` is byoc's own single request on node:http(s), for the
 * engineer's query hot path (src/clickhouse/http.ts says why).
 */
export interface ClickHouseConnector {
  connect(target: ClickHouseTarget): Promise<ClickHouseSession>;
  stream(target: ClickHouseTarget): Promise<StreamingSession>;
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

/** The real connector: @clickhouse/client for the audit, node:http(s) for the engineer (each imported only when used). */
export const clickhouseConnector: ClickHouseConnector = {
  async stream(target) {
    return (await import('./http.js')).openHttpSession(target);
  },
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
        await client.command({ query: killQuerySql(queryId), abort_signal: cancelWait() });
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
      const { signal, cancelOnce, failure } = stopping(request, target, cancel);
      let source: Readable;
      try {
        source = await send(signal);
      } catch (error) {
        throw await failure(error);
      }
      // Node stops watching a request's signal once the request is sent: the response is ended here.
      const stop = () => source.destroy(abortReason(signal!));
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

/** The statement that stops one of byoc's queries, waiting for the server to confirm it ended (every user may kill its own). */
export const killQuerySql = (queryId: string) => `KILL QUERY WHERE query_id = ${sqlString(queryId)} SYNC`;

/** The signal a cancellation waits under, over either transport. */
export const cancelWait = () => AbortSignal.timeout(CANCEL_WAIT_MS);

/**
 * How a query stops, the same over both transports (this client for the audit, src/clickhouse/http.ts for the
 * engineer): its deadline joined to the caller's signal, at most one KILL QUERY, and the error to report. Whenever
 * the query may still run on the server when byoc stops (Ctrl-C, a closed stdout, the deadline, a broken
 * connection), it is cancelled there before the error reaches the caller.
 */
export function stopping(request: QueryRequest, target: TranslationTarget, cancel: (queryId: string) => Promise<boolean>) {
  const deadline = request.deadlineMs === undefined ? undefined : AbortSignal.timeout(request.deadlineMs);
  const signal = deadline && request.signal ? AbortSignal.any([request.signal, deadline]) : (deadline ?? request.signal);
  let cancelled: Promise<boolean> | undefined;
  const cancelOnce = () => (cancelled ??= cancel(request.queryId));
  const failure = async (error: unknown): Promise<Error> => {
    // byoc stopped it (the error is then the abort's, whatever the transport made of it): stop it on the server too.
    if (request.signal?.aborted) {
      await cancelOnce();
      return abortReason(request.signal);
    }
    if (deadline?.aborted) return new QueryTimeoutError(Math.round(request.deadlineMs! / 1000), await cancelOnce());
    const translated = translateError(error, target);
    // A server error means the query is over there; anything else (a broken connection) may have left it running.
    if (!(translated instanceof ClickHouseServerError || translated instanceof ClickHouseRefusal)) await cancelOnce();
    return translated;
  };
  return { signal, cancelOnce, failure };
}

/** A ClickHouse string literal (query ids are byoc's own, but quoting never hurts). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The SQL with a FORMAT clause, as the client's own query() builds it (trailing semicolons dropped). */
export function withFormat(sql: string, format: WireFormat): string {
  return `${sql.trim().replace(/;+\s*$/, '')} \nFORMAT ${format}`;
}

type TranslationTarget = Pick<ClickHouseTarget, 'url' | 'service' | 'requestId' | 'agent' | 'settings'>;

/**
 * Maps client and server failures onto byoc's error kinds: ClickHouse's own exceptions (remote, or not-allowed
 * for access codes), then the path (src/net/failure.ts: proxy, DNS, TCP, TLS, nginx pages), each with the
 * setting to fix and the service and request when known.
 */
export function translateError(error: unknown, target: TranslationTarget): Error {
  const { url } = target;
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
  const context = diagnosisContextOf(target);
  const place = { host: context.host, port: context.port };
  const onPath = failureOf(error, place);
  if (onPath) return asError(diagnose(onPath, context), error);
  if (/^Timeout error\.?$/.test(error.message.trim()) || /\btimeout\b/i.test(error.message)) {
    return new NetworkError('clickhouse_timeout', `ClickHouse at ${url} did not answer in time`, {
      hint: `${target.service ? 'Raise --timeout, or check' : 'Check'} ${context.check ? `the path: ${context.check}` : `the network path to ${url}`}.`,
      cause: error,
    });
  }
  // The client keeps only the body of a failed answer; the agent kept its status (an empty 403, an nginx page).
  const answer = lastFailedAnswer(target.agent);
  const status = answer?.status ?? (Number(/<title>\s*(\d{3})\b/i.exec(error.message)?.[1]) || (/\b403\b|Forbidden/.test(error.message) ? 403 : undefined));
  if (status !== undefined && !answer?.exceptionCode) {
    return asError(diagnose(httpFailure(status, answer?.statusText ?? '', error.message, place), context), error);
  }
  const said = error.message.split('\n')[0]!.trim();
  return new RemoteError('clickhouse_error', `ClickHouse request failed: ${said || `an empty answer${status ? ` (HTTP ${status})` : ''}`}`, {
    hint: `Retry; if it persists, check ${context.check ?? `the service at ${url}`}.`,
    cause: error,
  });
}

function diagnosisContextOf(target: TranslationTarget): DiagnosisContext {
  return endpointContext({ endpoint: 'clickhouse', url: target.url, service: target.service, requestId: target.requestId, settings: target.settings });
}

function asError(diagnosis: Diagnosis, cause: unknown): Error {
  const ErrorClass = diagnosis.kind === 'not-allowed' ? NotAllowedError : diagnosis.kind === 'remote' ? RemoteError : NetworkError;
  return new ErrorClass(diagnosis.code, diagnosis.message, { hint: diagnosis.hint, cause });
}
