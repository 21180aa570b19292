import type { ClientRequest, IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { abortReason } from '../errors.js';
import { cancelWait, killQuerySql, stopping, withFormat, type ClickHouseTarget, type QueryRequest, type WireFormat } from './client.js';
import { ResultStream } from './result-stream.js';

/**
 * The engineer's query transport (`byoc query`, its preset probe, doctor): one node:http(s) request per query on
 * the agent the network layer built (proxy, resolve overrides, the engineer's certificate, keep-alive), the
 * response piped through one ResultStream into stdout. @clickhouse/client stays for the customer's audit (its
 * schema probes and row streams are not a hot path, and it handles basic auth and its own retries there); here it
 * would add its own stream and async-generator hops per chunk (~90 ms per 10M rows) between the socket and stdout.
 */
export interface StreamingSession {
  /**
   * Sends the query and resolves once the server has accepted it (HTTP 200 and headers) with `sink`, which the
   * answer's body then flows through; rejects with byoc's error for a refusal or a failed path.
   */
  stream(request: QueryRequest, sink: ResultStream): Promise<ResultStream>;
  /** A small result as batches of TSV lines (the preset's schema probe, doctor's version). */
  query(request: QueryRequest & { format: WireFormat }): Promise<AsyncIterable<string[]>>;
  close(): Promise<void>;
}


export function openHttpSession(target: ClickHouseTarget): StreamingSession {
  const base = new URL(target.url);
  const headers: Record<string, string> = {
    'User-Agent': target.application,
    // Engineers are identified by their certificate; a basic-auth header would name a ClickHouse user instead.
    ...(target.certificateUser ? { 'X-ClickHouse-User': target.certificateUser, 'X-ClickHouse-SSL-Certificate-Auth': 'on' } : {}),
  };
  const transport = base.protocol === 'https:' ? import('node:https') : import('node:http');

  /** One POST with the SQL as its body; resolves with a successful answer, rejects with the server's error. */
  const post = async (sql: string, params: Record<string, string | number>, signal: AbortSignal | undefined): Promise<IncomingMessage> => {
    const { request } = await transport;
    const url = new URL(base);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
    const body = Buffer.from(sql, 'utf8');
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      signal?.throwIfAborted();
      const req: ClientRequest = request(url, {
        method: 'POST',
        agent: target.agent,
        headers: { ...headers, 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': String(body.length) },
        timeout: target.timeoutMs,
      });
      let answered: IncomingMessage | undefined;
      const aborted = () => req.destroy(abortReason(signal!));
      signal?.addEventListener('abort', aborted, { once: true });
      req.once('response', (answer) => {
        answered = answer;
        signal?.removeEventListener('abort', aborted);
        resolve(answer);
      });
      req.once('error', (error) => {
        signal?.removeEventListener('abort', aborted);
        reject(error);
      });
      // An idle connection (no byte for timeoutMs) is a backstop behind the query's own deadline.
      req.once('timeout', () => (answered ?? req).destroy(new Error('Timeout error.')));
      req.end(body);
    });
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return response;
    // Read to the end: the socket then goes back to the agent, and the next attempt reuses the TLS connection.
    const text = await bodyText(response);
    throw serverError(text, response.headers['x-clickhouse-exception-code']);
  };

  /**
   * KILL QUERY over another connection on the same agent (same certificate, same user): ClickHouse lets every
   * user, readonly = 1 included, kill its own queries, and 18.x has no cancel-on-close for HTTP (closing the socket
   * leaves a query that sends nothing running to max_execution_time). SYNC waits until the query has ended,
   * bounded so Ctrl-C never hangs on a server that does not answer.
   */
  const cancel = async (queryId: string): Promise<boolean> => {
    try {
      const answer = await post(killQuerySql(queryId), {}, cancelWait());
      await bodyText(answer);
      return true;
    } catch {
      return false;
    }
  };

  const stream = async (request: QueryRequest, sink: ResultStream): Promise<ResultStream> => {
    const { signal, cancelOnce, failure } = stopping(request, target, cancel);
    let response: IncomingMessage;
    try {
      // As @clickhouse/client sends it: its FORMAT appended, or the SQL as written less its trailing semicolons.
      const sql = request.format ? withFormat(request.sql, request.format) : request.sql.trim().replace(/;+$/, '');
      response = await post(sql, { query_id: request.queryId, ...request.settings }, signal);
    } catch (error) {
      throw await failure(error);
    }
    let complete = false;
    let stopped = false;
    const stop = () => {
      signal?.removeEventListener('abort', onAbort);
      if (complete || stopped) return;
      stopped = true;
      response.unpipe(sink);
      response.destroy();
      void cancelOnce();
    };
    sink.attach({
      stop,
      settle: async () => {
        stop();
        if (!complete) await cancelOnce();
      },
    });
    let failed = false;
    const fail = (error: unknown) => {
      if (failed || stopped || complete) return;
      failed = true;
      void failure(error).then((translated) => sink.destroy(translated));
    };
    // Node stops watching a request's signal once the answer came: from here the response is ended by hand.
    const onAbort = () => {
      fail(abortReason(signal!));
      response.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    response.once('end', () => {
      complete = true;
      signal?.removeEventListener('abort', onAbort);
    });
    response.once('error', fail);
    response.once('close', () => {
      if (!complete) fail(new Error('the server closed the connection before the end of the answer'));
    });
    response.pipe(sink);
    return sink;
  };

  return {
    stream,
    async query(request) {
      const lines = await stream(request, new ResultStream({ headerLines: 0, maxRows: 0, onTruncated: () => undefined }));
      return batches(lines);
    },
    async close() {
      target.agent?.destroy();
    },
  };
}

/** Batches of whole lines from a stream of whole lines (the ResultStream cuts at newlines). */
async function* batches(source: Readable): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const lines = (rest + decoder.write(chunk)).split('\n');
    rest = lines.pop()!;
    if (lines.length) yield lines;
  }
  rest += decoder.end();
  if (rest) yield [rest];
  // a trailing exception fails the stream after its last row
  if (source.errored) throw source.errored;
}

async function bodyText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * ClickHouse's error text as @clickhouse/client reads it (the same pattern, so translateError sees the same
 * messages from either transport): the code and the message without its `(TYPE)`; 18.x text, which names no
 * type, stays whole. The exception-code header, where the server sends one, is the code.
 */
const SERVER_ERROR = /(Code|Error): (?<code>\d+).*Exception: (?<message>.+?)\((?<type>(?=[A-Z0-9_]*[A-Z]{3})[A-Z0-9_]+)\)/s;

function serverError(text: string, header: string | string[] | undefined): Error {
  const groups = SERVER_ERROR.exec(text)?.groups;
  const error = new Error(groups ? groups.message! : text);
  const code = groups?.code ?? (typeof header === 'string' ? header : undefined);
  if (code !== undefined) (error as Error & { code: string }).code = code;
  return error;
}
