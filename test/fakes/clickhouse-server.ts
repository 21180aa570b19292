import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface RecordedQuery {
  sql: string;
  queryId: string | null;
  format: string | null;
  settings: Record<string, string>;
  userAgent: string | undefined;
  commonName: string | undefined;
  authorization: string | undefined;
  /** X-ClickHouse-User and X-ClickHouse-SSL-Certificate-Auth, as a current server reads them */
  user: string | undefined;
  certificateAuth: string | undefined;
}

export interface FakeClickHouse {
  url: string;
  port: number;
  queries: RecordedQuery[];
  /** query_ids of endless queries still running, as system.processes would list them */
  processes: Set<string>;
  close(): Promise<void>;
}

export interface FakeClickHouseOptions {
  certPem: string;
  keyPem: string;
  /** the CA client certificates must chain to; without it, no client certificate is asked for */
  clientCa?: string;
  /** setting names the server rejects as unknown (an old server and `log_comment`) */
  unknownSettings?: string[];
  /** when true, any setting change is refused as in readonly=1 (code 164) */
  readonlyUser?: boolean;
  /** how long a successful answer takes (a slow query) */
  answerDelayMs?: number;
  /**
   * Queries that never finish (a long scan): the answer's rows are sent again and again, every 10 ms, until the
   * client goes away (which, like ClickHouse, does not stop the query) or a KILL QUERY names its query_id.
   */
  endless?: (query: RecordedQuery) => boolean;
  /** the answer for a query: TSV lines in ClickHouse's escaping (names, types, rows), or an error */
  answer: (query: RecordedQuery) => { names: string[]; types: string[]; rows: string[][] } | { error: { code: number; message: string; status?: number } };
}

const LIMIT_SETTINGS = new Set(['readonly', 'max_execution_time', 'max_result_rows', 'result_overflow_mode', 'log_comment']);

/**
 * An in-process HTTPS server that answers like ClickHouse's HTTP interface and, like the customer's
 * nginx, accepts only clients with a certificate from the given CA. It records every query with its
 * query_id, settings, user agent and the client certificate's CN.
 */
export async function startFakeClickHouse(options: FakeClickHouseOptions): Promise<FakeClickHouse> {
  const queries: RecordedQuery[] = [];
  const processes = new Set<string>();
  const kills = new Map<string, () => void>();
  const mutual = options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {};
  const server = https.createServer({ cert: options.certPem, key: options.keyPem, ...mutual }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'https://clickhouse.invalid');
      if (url.pathname === '/ping') return void response.end('Ok.\n');
      const settings: Record<string, string> = {};
      for (const [key, value] of url.searchParams) if (!['query_id', 'default_format', 'query', 'database'].includes(key)) settings[key] = value;
      const sql = url.searchParams.get('query') ?? Buffer.concat(chunks).toString('utf8');
      const format = /FORMAT\s+(\w+)\s*$/i.exec(sql)?.[1] ?? url.searchParams.get('default_format');
      const peer = (request.socket as TLSSocket).getPeerCertificate();
      const query: RecordedQuery = {
        sql: sql.replace(/\s*FORMAT\s+\w+\s*$/i, ''),
        queryId: url.searchParams.get('query_id'),
        format,
        settings,
        userAgent: request.headers['user-agent'],
        commonName: typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined,
        authorization: request.headers.authorization,
        user: request.headers['x-clickhouse-user'] as string | undefined,
        certificateAuth: request.headers['x-clickhouse-ssl-certificate-auth'] as string | undefined,
      };
      queries.push(query);
      const fail = (code: number, message: string, status = 500) =>
        response.writeHead(status, { 'x-clickhouse-exception-code': String(code) }).end(`Code: ${code}. DB::Exception: ${message} (version 24.8.1.1)\n`);
      const unknown = Object.keys(settings).find((name) => options.unknownSettings?.includes(name));
      if (unknown) return fail(115, `Setting ${unknown} is neither a builtin setting nor started with the prefix 'custom_' registered for user-defined settings. (UNKNOWN_SETTING)`, 404);
      if (options.readonlyUser && Object.keys(settings).some((name) => LIMIT_SETTINGS.has(name))) {
        return fail(164, `Cannot modify '${Object.keys(settings)[0]}' setting in readonly mode. (READONLY)`, 400);
      }
      const kill = /^KILL QUERY WHERE query_id = '([^']*)' (?:SYNC|ASYNC)$/.exec(query.sql.trim());
      if (kill) {
        const running = processes.has(kill[1]!);
        kills.get(kill[1]!)?.();
        return void response.writeHead(200).end(running ? `finished\t${kill[1]}\tuser\tquery\n` : '');
      }
      const answer = options.answer(query);
      if ('error' in answer) return fail(answer.error.code, answer.error.message, answer.error.status);
      const lines = format === 'TabSeparatedWithNamesAndTypes' ? [answer.names, answer.types, ...answer.rows] : format === 'TabSeparatedWithNames' ? [answer.names, ...answer.rows] : answer.rows;
      const body =
        format === 'JSONEachRow'
          ? answer.rows.map((row) => JSON.stringify(Object.fromEntries(row.map((value, index) => [answer.names[index], value])))).join('\n') + (answer.rows.length ? '\n' : '')
          : format === 'CSVWithNames'
            ? [answer.names, ...answer.rows].map((row) => row.map((value) => `"${value.replace(/"/g, '""')}"`).join(',')).join('\n') + '\n'
            : lines.map((row) => row.join('\t') + '\n').join(''); // no rows: an empty body, as ClickHouse sends
      const respond = () => {
        response.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-query-id': query.queryId ?? '' });
        response.end(body);
      };
      if (options.endless?.(query)) {
        const id = query.queryId ?? '';
        response.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-query-id': id });
        response.write(body);
        processes.add(id);
        const timer = setInterval(() => response.write(body.split('\n').slice(format === 'TabSeparatedWithNamesAndTypes' ? 2 : format === 'TabSeparatedWithNames' || format === 'CSVWithNames' ? 1 : 0).join('\n')), 10);
        kills.set(id, () => {
          clearInterval(timer);
          processes.delete(id);
          kills.delete(id);
          response.end(`Code: 394. DB::Exception: Query was cancelled. (QUERY_WAS_CANCELLED) (version 24.8.1.1)\n`);
        });
        return;
      }
      if (options.answerDelayMs) setTimeout(respond, options.answerDelayMs);
      else respond();
    });
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    queries,
    processes,
    close: () => new Promise<void>((resolve) => { for (const stop of kills.values()) stop(); server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
