/**
 * The engineer's query transport (src/clickhouse/http.ts) and the remembered settings level (runTagged with a
 * SettingsMemory), against a loopback HTTP server that answers like ClickHouse 18.x, a readonly user, nginx, or
 * a server that fails after HTTP 200. The server counts requests and connections, so "one request per query" and
 * "the refused answer's socket is reused" are asserted from outside byoc.
 */
import { statSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openHttpSession, type StreamingSession } from '../../../src/clickhouse/http.js';
import { ResultStream } from '../../../src/clickhouse/result-stream.js';
import { runTagged } from '../../../src/clickhouse/run.js';
import { settingsFileOf, settingsMemory } from '../../../src/clickhouse/settings-memory.js';
import { watchAnswers } from '../../../src/net/failure.js';
import { tempDir } from '../../fakes/fs.js';

interface Seen {
  sql: string;
  settings: Record<string, string>;
  queryId: string | null;
  headers: http.IncomingHttpHeaders;
}

type Respond = (seen: Seen, response: http.ServerResponse) => void;

const OLD_115 = 'Code: 115, e.displayText() = DB::Exception: Unknown setting log_comment, e.what() = DB::Exception\n';
const OLD_164 = 'Code: 164, e.displayText() = DB::Exception: Cannot modify \'readonly\' setting in readonly mode, e.what() = DB::Exception\n';
const NGINX_403 = '<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); })));
});

/** A fake ClickHouse on loopback; `respond` answers each query (KILL QUERY is answered and recorded apart). */
async function fakeServer(respond: Respond) {
  const queries: Seen[] = [];
  const kills: string[] = [];
  const connections = new Set<Socket>();
  let connectionCount = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://x');
      const settings: Record<string, string> = {};
      for (const [key, value] of url.searchParams) if (key !== 'query_id') settings[key] = value;
      const sql = Buffer.concat(chunks).toString('utf8');
      const kill = /^KILL QUERY WHERE query_id = '([^']*)' SYNC$/.exec(sql);
      if (kill) {
        kills.push(kill[1]!);
        return void response.end('');
      }
      const seen = { sql, settings, queryId: url.searchParams.get('query_id'), headers: request.headers };
      queries.push(seen);
      respond(seen, response);
    });
  });
  server.on('connection', (socket) => {
    connectionCount++;
    connections.add(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, queries, kills, connections: () => connectionCount };
}

/** ClickHouse 18.x refusing log_comment, and (readonly) any setting; otherwise rows of numbers as TSV. */
function oldServer(options: { readonlyUser?: boolean; rows?: number } = {}): Respond {
  return (seen, response) => {
    if ('log_comment' in seen.settings) return void response.writeHead(500).end(OLD_115);
    if (options.readonlyUser && 'readonly' in seen.settings) return void response.writeHead(500).end(OLD_164);
    response.writeHead(200, { 'content-type': 'text/tab-separated-values; charset=UTF-8' });
    response.end(`number\n${Array.from({ length: options.rows ?? 3 }, (_, index) => `${index}\n`).join('')}`);
  };
}

function sessionFor(url: string): StreamingSession {
  const agent = watchAnswers(new http.Agent({ keepAlive: true }));
  return openHttpSession({ url, agent, application: 'byoc/test (request r-1)', timeoutMs: 5000, service: 'acme', requestId: 'r-1', certificateUser: 'byoc_r_1' });
}

const tags = { requestId: 'r-1', engineer: 'alice@vendor.example' };
let sequence = 0;

/** One `byoc query`-shaped run: runTagged over the session with the service's memory, the output collected. */
async function query(session: StreamingSession, memory: ReturnType<typeof settingsMemory>, options: { maxRows?: number; sink?: ResultStream } = {}) {
  const queryId = `byoc-r-1-${++sequence}`;
  const sink = options.sink ?? new ResultStream({ headerLines: 1, maxRows: options.maxRows ?? 0, onTruncated: () => undefined });
  const output = await runTagged((request) => session.stream(request, sink), { sql: 'SELECT number FROM system.numbers', format: 'TabSeparatedWithNames', queryId, maxRows: options.maxRows ?? 0, timeoutMs: 5000, tags, memory, deadline: true });
  let text = '';
  for await (const chunk of output as AsyncIterable<Buffer>) text += chunk.toString();
  await new Promise<void>((resolve) => (output.closed ? resolve() : output.once('close', () => resolve())));
  return { text, queryId, error: output.errored };
}

const now = () => new Date();

describe('one request per query: the settings level is remembered per service', () => {
  it('on 18.x, the first query pays for the refused log_comment once, on the same connection; the next is one request', async () => {
    // Given an 18.x server that refuses log_comment and an engineer with no remembered level
    const server = await fakeServer(oldServer());
    const stateDir = tempDir();
    const session = sessionFor(server.url);
    const memory = settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now);
    // When the first query runs
    const first = await query(session, memory);
    // Then it was offered log_comment, refused, and ran with the limits, over one keep-alive connection
    expect(first.text).toBe('number\n0\n1\n2\n');
    expect(server.queries.map((seen) => 'log_comment' in seen.settings)).toEqual([true, false]);
    expect(server.queries[1]!.settings).toMatchObject({ readonly: '1' });
    expect(server.connections()).toBe(1);
    // And the accepted level is in a file only the engineer can read, for this URL
    const file = settingsFileOf(stateDir, 'acme');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ url: server.url, user: 'byoc_r_1', level: 1 });
    // When the next query runs (a new process would read the same file)
    const before = server.queries.length;
    const second = await query(sessionFor(server.url), settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now));
    // Then it is exactly one request, at the remembered level
    expect(second.text).toBe('number\n0\n1\n2\n');
    expect(server.queries.slice(before).map((seen) => seen.settings.readonly)).toEqual(['1']);
    await session.close();
  });

  it('a readonly user: three requests once, then one with no settings', async () => {
    // Given a server where the engineer's user may not change settings
    const server = await fakeServer(oldServer({ readonlyUser: true }));
    const stateDir = tempDir();
    const memory = settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now);
    // When two queries run
    await query(sessionFor(server.url), memory);
    const before = server.queries.length;
    await query(sessionFor(server.url), memory);
    // Then the first took three requests, the second one, with no settings
    expect(before).toBe(3);
    expect(server.queries.slice(before).map((seen) => seen.settings)).toEqual([{}]);
    expect(JSON.parse(readFileSync(settingsFileOf(stateDir, 'acme'), 'utf8'))).toMatchObject({ level: 2 });
  });

  it('a remembered level for another URL, another server user, or a stale one, is not used', async () => {
    // Given a remembered "no settings" for another URL of the service
    const server = await fakeServer(oldServer());
    const stateDir = tempDir();
    const file = settingsFileOf(stateDir, 'acme');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ url: 'https://elsewhere.example:8443', user: 'byoc_r_1', level: 2, at: new Date().toISOString() }));
    // When a query runs
    await query(sessionFor(server.url), settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now));
    // Then the strictest settings were offered first
    expect('log_comment' in server.queries[0]!.settings).toBe(true);
    // And a level learnt as another engineer's server user is not this one's
    writeFileSync(file, JSON.stringify({ url: server.url, user: 'byoc_r_2', level: 2, at: new Date().toISOString() }));
    const asOther = server.queries.length;
    await query(sessionFor(server.url), settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now));
    expect('log_comment' in server.queries[asOther]!.settings).toBe(true);
    // And a level remembered more than a day ago is tried from the top again
    writeFileSync(file, JSON.stringify({ url: server.url, user: 'byoc_r_1', level: 2, at: new Date(Date.now() - 25 * 3600_000).toISOString() }));
    const before = server.queries.length;
    await query(sessionFor(server.url), settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now));
    expect('log_comment' in server.queries[before]!.settings).toBe(true);
  });

  it('a settings refusal at the remembered level steps down and rewrites it', async () => {
    // Given a remembered level 0 (log_comment accepted) and a server that now refuses log_comment (a downgrade)
    const server = await fakeServer(oldServer());
    const stateDir = tempDir();
    const memory = settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now);
    await memory.remember(0);
    // When a query runs
    const result = await query(sessionFor(server.url), memory);
    // Then it succeeded at the next level, which is now remembered
    expect(result.text).toBe('number\n0\n1\n2\n');
    expect(await memory.recall()).toBe(1);
  });

  it('a failure at the remembered level that is not about the query forgets it (nginx 403); a server error about the query keeps it', async () => {
    // Given a remembered level and a server that answers with nginx's 403 page, then with an unknown-table error
    let mode: 'nginx' | 'unknown-table' = 'unknown-table';
    const server = await fakeServer((_seen, response) => {
      if (mode === 'nginx') return void response.writeHead(403, { 'content-type': 'text/html' }).end(NGINX_403);
      response.writeHead(404, { 'x-clickhouse-exception-code': '60' }).end('Code: 60. DB::Exception: Table system.nope doesn\'t exist. (UNKNOWN_TABLE) (version 24.8.1.1)\n');
    });
    const stateDir = tempDir();
    const memory = settingsMemory(stateDir, 'acme', server.url, 'byoc_r_1', now);
    await memory.remember(1);
    // When a query fails with the server's own error about it
    const unknown = query(sessionFor(server.url), memory);
    // Then the error is ClickHouse's (exit 5) and the level stays
    await expect(unknown).rejects.toMatchObject({ exitCode: 5, message: expect.stringContaining('ClickHouse error 60') });
    expect(await memory.recall()).toBe(1);
    // When nginx refuses the next one
    mode = 'nginx';
    const refused = query(sessionFor(server.url), memory);
    // Then it is the endpoint refusing the identity (exit 4, with the operator hint), and the level is forgotten
    await expect(refused).rejects.toMatchObject({ exitCode: 4, code: 'endpoint_refused' });
    expect(await memory.recall()).toBeUndefined();
  });
});

describe('the streamed answer', () => {
  it('carries the user agent, the query_id and the certificate user, and the SQL with its FORMAT', async () => {
    const server = await fakeServer(oldServer());
    const result = await query(sessionFor(server.url), settingsMemory(tempDir(), 'acme', server.url, 'byoc_r_1', now));
    const seen = server.queries.at(-1)!;
    expect(seen.queryId).toBe(result.queryId);
    expect(seen.headers['user-agent']).toContain('byoc/test (request r-1)');
    expect(seen.headers['x-clickhouse-user']).toBe('byoc_r_1');
    expect(seen.headers['x-clickhouse-ssl-certificate-auth']).toBe('on');
    expect(seen.sql).toBe('SELECT number FROM system.numbers \nFORMAT TabSeparatedWithNames');
  });

  it('an exception after HTTP 200 fails the stream after the rows before it, and is not killed (it is over)', async () => {
    // Given a server that sends rows, then an 18.x exception as the last line
    const server = await fakeServer((_seen, response) => {
      response.writeHead(200);
      response.write('number\n0\n1\n');
      setTimeout(() => response.end('Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, e.what() = DB::Exception\n'), 20);
    });
    // When the query streams
    const result = await query(sessionFor(server.url), settingsMemory(tempDir(), 'acme', server.url, 'byoc_r_1', now));
    // Then the rows printed, the failure follows them (exit 5), and no KILL was needed
    expect(result.text).toBe('number\n0\n1\n');
    expect(result.error).toMatchObject({ exitCode: 5, message: expect.stringContaining('Code 396') });
    expect(server.kills).toEqual([]);
  });

  it('--max-rows cuts the output and kills the query that is still running', async () => {
    // Given a server that keeps sending rows
    const server = await fakeServer((_seen, response) => {
      response.writeHead(200);
      response.write('number\n');
      let next = 0;
      const timer = setInterval(() => response.write(`${next++}\n${next++}\n`), 5);
      response.on('close', () => clearInterval(timer));
    });
    // When at most 5 rows are asked for
    const result = await query(sessionFor(server.url), settingsMemory(tempDir(), 'acme', server.url, 'byoc_r_1', now), { maxRows: 5 });
    // Then 5 rows print and the query is killed on the server before the stream closes
    expect(result.text).toBe('number\n0\n1\n2\n3\n4\n');
    expect(server.kills).toEqual([result.queryId]);
  });

  it('a slow stdout holds the server back (backpressure reaches the socket) instead of buffering the answer', async () => {
    // Given a server that writes 64 MiB as fast as the socket takes it, and notes when the socket pushes back
    let written = 0;
    let pushedBack = false;
    const server = await fakeServer((_seen, response) => {
      response.writeHead(200);
      const block = Buffer.alloc(64 * 1024, '7\n');
      const pump = () => {
        while (written < 64 * 1024 * 1024) {
          written += block.length;
          if (!response.write(block)) {
            pushedBack = true;
            return void response.once('drain', pump);
          }
        }
        response.end();
      };
      pump();
      response.on('close', () => (written = Infinity));
    });
    const session = sessionFor(server.url);
    const sink = new ResultStream({ headerLines: 0, maxRows: 0, onTruncated: () => undefined });
    const output = await runTagged((request) => session.stream(request, sink), { sql: 'SELECT 7', format: 'TabSeparated', queryId: 'byoc-r-1-slow', maxRows: 0, timeoutMs: 5000, tags });
    // When stdout takes nothing (a paused reader) for a while
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined });
    const piping = pipeline(output, stuck).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Then the server was held back: a few MiB at most left it, of 64
    expect(pushedBack).toBe(true);
    expect(written).toBeLessThan(8 * 1024 * 1024);
    // And stopping the reader stops the query on the server
    output.destroy();
    await piping;
    await new Promise<void>((resolve) => (output.closed ? resolve() : output.once('close', () => resolve())));
    expect(server.kills).toEqual(['byoc-r-1-slow']);
  });
});
