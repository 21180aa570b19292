import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { abortReason, isAbort } from '../errors.js';
import { checkQuery } from '../clickhouse/guard.js';
import { cancelWait, ClickHouseServerError, killQuerySql, translateError, type ClickHouseTarget, type QueryRequest } from '../clickhouse/client.js';
import { runTagged, type QueryTags } from '../clickhouse/run.js';
import type { SettingsMemory } from '../clickhouse/settings-memory.js';
import { errorBody, hostAllowed, passwordOf, readBody, relayedHeaders, samePassword, splitParameters, statementOf, type ClickHouseStyleError } from './request.js';

export interface ProxyOptions {
  /** the loopback address to bind, and the names a Host header may use for it */
  host: string;
  hostNames: readonly string[];
  port: number;
  password: string;
  /** the engineer's session: agent (network layer, certificate), user agent, the certificate's server user */
  target: ClickHouseTarget;
  tags: QueryTags;
  nextQueryId(): string;
  memory?: SettingsMemory | undefined;
  /** each statement's limit: max_execution_time on the server, and byoc's own deadline (KILL QUERY) */
  timeoutMs: number;
  /** when the grant (or the certificate) ends, in ms since the epoch: no statement may run past it */
  endsAt: number;
  /** one line per statement, and per refused request */
  log(line: string): void;
  now(): Date;
}

export interface RunningProxy {
  host: string;
  port: number;
  /** stops listening, cancels every statement still running on the server, and closes every connection */
  close(): Promise<void>;
}

/** The server's answer that was not a success, kept whole so the client gets it as ClickHouse sent it. */
class UpstreamAnswer extends ClickHouseServerError {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[]>,
    readonly body: Buffer,
    clientSettings: readonly string[],
  ) {
    const text = body.toString('utf8');
    const header = headers['x-clickhouse-exception-code'];
    const code = Number(typeof header === 'string' ? header : /Code:\s*(\d+)/.exec(text)?.[1]);
    // A setting the server refuses (unknown, or a read-only user changing it) makes runTagged try again with fewer
    // of byoc's own settings. When the refused one is the client's, no retry: it would run the statement without
    // readonly=1 and max_execution_time, so a client could strip them by sending a setting the server refuses.
    const clientsRefused = (code === UNKNOWN_SETTING || code === READONLY) && clientSettings.some((name) => text.includes(`'${name}'`) || text.includes(`(${name})`) || text.includes(`Setting ${name} `) || text.includes(`Unknown setting ${name}`));
    super(Number.isInteger(code) && code > 0 && !clientsRefused ? code : undefined, text.trim());
  }
}

const UNKNOWN_SETTING = 115;
const READONLY = 164;

/**
 * Statements end this long before the grant does. At the grant's end the server (nginx, ClickHouse) refuses the
 * certificate, KILL QUERY included: a statement cancelled only then would run on to its own end.
 */
const END_MARGIN_MS = 10_000;

/** How a statement was stopped before its end, for the answer a client still waiting gets. */
const SHUTDOWN = 'byoc proxy stopped';
const CLIENT_GONE = 'the client went away';

/**
 * A local ClickHouse HTTP endpoint in front of one service: each request is authenticated with the run's
 * password, its SQL (the `query` parameter then the body) checked by the guard, and that exact text sent as the
 * POST body through runTagged (byoc's query_id, log_comment, readonly, max_execution_time) over the engineer's
 * agent. The answer streams back as it comes, with Node's backpressure between the two sockets.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const transport = new URL(options.target.url).protocol === 'https:' ? await import('node:https') : await import('node:http');
  const baseHeaders: Record<string, string> = {
    'User-Agent': options.target.application,
    ...(options.target.certificateUser ? { 'X-ClickHouse-User': options.target.certificateUser, 'X-ClickHouse-SSL-Certificate-Auth': 'on' } : {}),
  };
  /** statements in flight: each one's stop, and the promise that settles once it is over on the server */
  const running = new Set<{ stop(reason: string): void; settled: Promise<void> }>();
  let port = options.port;
  let closing: Promise<void> | undefined;

  /** One POST with `sql` as its body and `params` in the URL, over the engineer's agent. */
  const post = (sql: string, params: [string, string][], signal: AbortSignal): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortReason(signal));
      const url = new URL(options.target.url);
      for (const [name, value] of params) url.searchParams.append(name, value);
      const body = Buffer.from(sql, 'utf8');
      const request = transport.request(url, {
        method: 'POST',
        agent: options.target.agent,
        headers: { ...baseHeaders, 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': String(body.length) },
        timeout: options.timeoutMs,
        signal,
      });
      request.once('response', resolve);
      request.once('error', reject);
      request.once('timeout', () => request.destroy(new Error('Timeout error.')));
      request.end(body);
    });

  /** KILL QUERY over the same agent (the same certificate, so the same server user: every user may kill its own). */
  const kill = async (queryId: string): Promise<boolean> => {
    try {
      const answer = await post(killQuerySql(queryId), [], cancelWait());
      answer.resume();
      await new Promise((resolve) => answer.once('close', resolve));
      return (answer.statusCode ?? 0) >= 200 && (answer.statusCode ?? 0) < 300;
    } catch {
      // no answer in time: the server stops the statement at its max_execution_time
      return false;
    }
  };

  const refuse = (response: ServerResponse, error: ClickHouseStyleError) => {
    if (response.headersSent) return void response.destroy();
    response.writeHead(error.status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': String(error.code) }).end(errorBody(error));
  };

  const line = (queryId: string, verdict: string) => options.log(`${options.now().toISOString()}\t${queryId}\t${verdict}`);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (!hostAllowed(request.headers.host, port, options.hostNames)) {
      line('-', `refused: Host ${JSON.stringify(request.headers.host ?? '')} is not this proxy`);
      request.resume();
      return refuse(response, {
        status: 403, code: 497, type: 'ACCESS_DENIED',
        message: `byoc proxy refused the request: its Host header is not ${options.hostNames.map((name) => `${name.includes(':') ? `[${name}]` : name}:${port}`).join(' or ')} (a web page cannot use this proxy)`,
      });
    }
    const url = new URL(request.url ?? '/', 'http://proxy.invalid');
    if (url.pathname === '/ping' || (url.pathname === '/' && request.method === 'GET' && !url.searchParams.has('query'))) {
      // As ClickHouse answers a health check, with no credentials asked.
      request.resume();
      return void response.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
    }
    if (url.pathname !== '/') {
      request.resume();
      return refuse(response, { status: 404, code: 0, type: 'UNKNOWN', message: `There is no handle ${url.pathname}: byoc proxy serves / (queries) and /ping` });
    }
    if (!samePassword(passwordOf(request.headers, url.searchParams), options.password)) {
      line('-', 'refused: wrong or missing password');
      request.resume();
      return refuse(response, { status: 401, code: 516, type: 'AUTHENTICATION_FAILED', message: 'byoc proxy: wrong or missing password (use the one byoc proxy printed, with any user name)' });
    }
    if (request.method !== 'GET' && request.method !== 'POST') {
      request.resume();
      return refuse(response, { status: 405, code: 36, type: 'BAD_ARGUMENTS', message: `byoc proxy takes GET or POST, not ${request.method}` });
    }
    const body = await readBody(request);
    if ('refused' in body) {
      line('-', `refused: ${body.refused.message}`);
      return refuse(response, body.refused);
    }
    const parameters = splitParameters(url.searchParams);
    const sql = statementOf(parameters.query, body.text);
    const changes = [parameters.replaced.length ? `replaced: ${parameters.replaced.join(', ')}` : '', parameters.dropped.length ? `dropped: ${parameters.dropped.join(', ')}` : ''].filter(Boolean).join('; ');
    const dropped = changes ? ` (${changes})` : '';
    if (sql.trim() === '') return refuse(response, { status: 400, code: 62, type: 'SYNTAX_ERROR', message: 'Empty query' });
    const verdict = checkQuery(sql);
    if (!verdict.allowed) {
      // the guard's reasons start with "refused: ", which the sentence around it already says
      const reason = verdict.reason.replace(/^refused: /, '');
      line('-', `refused: ${reason}`);
      return refuse(response, { status: 403, code: 497, type: 'ACCESS_DENIED', message: `byoc proxy refused the statement: ${reason}` });
    }
    await forward(sql, parameters.kept, dropped, response);
  };

  /** The checked statement to the server and its answer back, stopped on the server when anything ends it early. */
  const forward = async (sql: string, kept: [string, string][], dropped: string, response: ServerResponse) => {
    // its body was still arriving when the proxy began to stop: nothing new starts on the server
    if (closing) return refuse(response, { status: 503, code: 394, type: 'QUERY_WAS_CANCELLED', message: `byoc proxy stopped the statement: ${SHUTDOWN}` });
    const left = options.endsAt - options.now().getTime() - END_MARGIN_MS;
    if (left <= 0) {
      const reason = `your access ends at ${new Date(options.endsAt).toISOString()}, too soon for another statement`;
      line('-', `refused: ${reason}`);
      return refuse(response, { status: 403, code: 497, type: 'ACCESS_DENIED', message: `byoc proxy refused the statement: ${reason}` });
    }
    const limitMs = Math.min(options.timeoutMs, left);
    const queryId = options.nextQueryId();
    line(queryId, `allowed${dropped}`);
    const controller = new AbortController();
    const deadline = AbortSignal.timeout(limitMs);
    const signal = AbortSignal.any([controller.signal, deadline]);
    let complete = false;
    let settle!: () => void;
    const entry = { stop: (reason: string) => controller.abort(new DOMException(reason, 'AbortError')), settled: new Promise<void>((resolve) => (settle = resolve)) };
    running.add(entry);
    response.once('close', () => {
      if (!response.writableFinished) entry.stop(CLIENT_GONE);
    });
    let killed: Promise<boolean> | undefined;
    const stopOnServer = () => (killed ??= kill(queryId));
    /** how a stop ended on the server, for the log line */
    const onServer = (confirmed: boolean) => (confirmed ? 'cancelled on the server' : 'the server did not confirm KILL QUERY (a revoked certificate is refused): it ends at its time limit there');
    try {
      const clientSettings = kept.map(([name]) => name);
      const send = (query: QueryRequest) => sendOne(sql, clientSettings, [...kept, ...Object.entries(query.settings).map(([name, value]): [string, string] => [name, String(value)]), ['query_id', query.queryId]], query.signal!);
      const answer = await runTagged(send, { sql, format: undefined, queryId, maxRows: 0, timeoutMs: limitMs, tags: options.tags, signal, memory: options.memory });
      response.writeHead(answer.statusCode ?? 200, relayedHeaders(answer.headers));
      await new Promise<void>((resolve) => {
        const stop = () => {
          answer.unpipe(response);
          answer.destroy();
          resolve();
        };
        signal.addEventListener('abort', stop, { once: true });
        answer.once('end', () => {
          complete = true;
          signal.removeEventListener('abort', stop);
        });
        answer.once('close', () => {
          signal.removeEventListener('abort', stop);
          resolve();
        });
        // a connection broken mid-answer: 'close' follows, and the answer counts as cut
        answer.on('error', () => undefined);
        answer.pipe(response);
        // stopped between the server's answer and here: no abort event will come
        if (signal.aborted) stop();
      });
      if (!complete) {
        // Cut before its end: the client must not take a partial answer for a whole one.
        response.destroy();
        line(queryId, `stopped: ${stopReason(signal, deadline, limitMs, options)}; ${onServer(await stopOnServer())}`);
      }
    } catch (error) {
      if (error instanceof UpstreamAnswer) {
        response.writeHead(error.status, error.headers).end(error.body);
        line(queryId, `server error: ${error.message.split('\n')[0]}`);
      } else if (isAbort(error) || signal.aborted) {
        const why = stopReason(signal, deadline, limitMs, options);
        line(queryId, `stopped: ${why}; ${onServer(await stopOnServer())}`);
        refuse(response, deadline.aborted ? { status: 504, code: 159, type: 'TIMEOUT_EXCEEDED', message: `byoc proxy stopped the statement: ${why}` } : { status: 503, code: 394, type: 'QUERY_WAS_CANCELLED', message: `byoc proxy stopped the statement: ${why}` });
      } else {
        await stopOnServer();
        const translated = translateError(error, options.target);
        line(queryId, `failed: ${translated.message}`);
        refuse(response, { status: 502, code: 1000, type: 'POCO_EXCEPTION', message: `byoc proxy could not reach ${options.target.service ?? options.target.url}: ${translated.message}` });
      }
    } finally {
      running.delete(entry);
      settle();
    }
  };

  /** One attempt: a success as the response to relay, or the server's refusal (runTagged steps down on a settings one). */
  const sendOne = async (sql: string, clientSettings: readonly string[], params: [string, string][], signal: AbortSignal): Promise<IncomingMessage> => {
    const answer = await post(sql, params, signal);
    const status = answer.statusCode ?? 0;
    if (status >= 200 && status < 300) return answer;
    const chunks: Buffer[] = [];
    for await (const chunk of answer as AsyncIterable<Buffer>) chunks.push(chunk);
    throw new UpstreamAnswer(status, relayedHeaders(answer.headers), Buffer.concat(chunks), clientSettings);
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.log(`${options.now().toISOString()}\t-\tfailed: ${(error as Error).message}`);
      if (!response.headersSent) refuse(response, { status: 500, code: 1001, type: 'STD_EXCEPTION', message: `byoc proxy: ${(error as Error).message}` });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    host: options.host,
    port,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const entry of running) entry.stop(SHUTDOWN);
        await Promise.all([...running].map((entry) => entry.settled));
        server.closeAllConnections();
        await closed;
      })()),
  };
}

function stopReason(signal: AbortSignal, deadline: AbortSignal, limitMs: number, options: Pick<ProxyOptions, 'timeoutMs' | 'endsAt'>): string {
  if (deadline.aborted && limitMs < options.timeoutMs) return `it would have outlived your access (ends at ${new Date(options.endsAt).toISOString()})`;
  if (deadline.aborted) return `it ran longer than ${Math.round(limitMs / 1000)}s (--timeout)`;
  return (signal.reason as Error | undefined)?.message ?? 'stopped';
}
