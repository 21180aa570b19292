/**
 * `byoc proxy clickhouse` against the fake current ClickHouse (mutual TLS), run in-process through main() with its
 * own abort signal (Ctrl-C) and clock, and reached from outside with raw node:http requests: the password and the
 * Host header, the guard's refusals as ClickHouse-style 403s, what the server receives (the checked text as the
 * body, byoc's tags instead of the client's), streaming, a client that goes away, and the grant's end.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANT_WARNINGS_MS } from '../../../src/access/grant-watch.js';
import { embeddedClient } from '../../../src/access/open.js';
import { serverUserFor } from '../../../src/access/server-user.js';
import { main } from '../../../src/main.js';
import { openTestBroker, testBrokerCa, testServerKeys } from '../../fakes/broker.js';
import { startFakeClickHouse, type FakeClickHouse, type RecordedQuery } from '../../fakes/clickhouse-server.js';
import { MAX_BODY_BYTES } from '../../../src/proxy/request.js';
import { FakeClock, testBase } from '../../fakes/context.js';
import { tempDir } from '../../fakes/fs.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const HOST = 'ch.acme.example';
const LONG = 'SELECT number FROM system.numbers';
const numbers = { names: ['number'], types: ['UInt64'], rows: Array.from({ length: 50 }, (_, index) => [String(index)]) };

let server: FakeClickHouse;
/** a server whose user may change no setting (a read-only profile) */
let readonlyServer: FakeClickHouse;
let caPem: string;

beforeAll(async () => {
  const ca = await testBrokerCa();
  caPem = ca.certPem;
  const { certPem, keyPem } = await testServerKeys([HOST]);
  server = await startFakeClickHouse({ certPem, keyPem, clientCa: caPem, answer, endless: (query) => query.sql.startsWith(LONG) });
  readonlyServer = await startFakeClickHouse({ certPem, keyPem, clientCa: caPem, answer, readonlyUser: true });
});
afterAll(async () => {
  await server.close();
  await readonlyServer.close();
});

function answer(query: RecordedQuery) {
  if (query.sql.startsWith(LONG)) return numbers;
  return { names: ['x'], types: ['UInt8'], rows: [['1']] };
}

interface Proxy {
  url: URL;
  password: string;
  port: number;
  requestId: string;
  announcement: Record<string, unknown>;
  exited: Promise<number>;
  stdout(): string;
  stderr(): string;
  interrupt(): void;
}

/**
 * An engineer with an approved request on the fake server, and the proxy started for it (stopped by the test).
 * The clock moves only when a test says so: FakeClock's sleeps end at once, which would run the grant watch to
 * the grant's end in a few milliseconds.
 */
async function startProxy(args: string[] = ['--json'], clock = new ManualClock(new Date()), target = server): Promise<Proxy> {
  const stateDir = tempDir();
  const { broker } = await openTestBroker(stateDir, clock as unknown as FakeClock);
  const created = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', ticket: 'INC-7', duration: '2h' });
  await broker.approve('bob@vendor.example', created.id);
  const cwd = tempDir({ 'ca.pem': caPem });
  writeFileSync(path.join(cwd, 'byoc.config.yaml'), `network:\n  resolve: { ${HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${target.port}", caFile: ./ca.pem }\n`);
  const controller = new AbortController();
  // ManualClock is a Clock like FakeClock; the harness's type names FakeClock only.
  const harness = testBase({ cwd, clock: clock as unknown as FakeClock, env: { BYOC_STATE_DIR: stateDir }, signal: controller.signal, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } });
  const exited = main(['proxy', 'clickhouse', 'acme-prod', ...args], harness.base);
  let code: number | undefined;
  void exited.then((value) => (code = value));
  for (let waited = 0; !harness.stdout.text.includes('\n'); waited += 10) {
    if (code !== undefined || waited > 10_000) throw new Error(`the proxy did not start (exit ${code}): ${harness.stderr.text}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const firstLine = harness.stdout.text.split('\n')[0]!;
  const url = new URL(args.includes('--json') ? (JSON.parse(firstLine) as { url: string }).url : firstLine);
  return {
    url,
    password: decodeURIComponent(url.password),
    port: Number(url.port),
    requestId: created.id,
    announcement: args.includes('--json') ? (JSON.parse(firstLine) as Record<string, unknown>) : {},
    exited,
    stdout: () => harness.stdout.text,
    stderr: () => harness.stderr.text,
    interrupt: () => controller.abort(new DOMException('interrupted', 'AbortError')),
  };
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A raw HTTP request to the proxy, as curl would send it (Host and credentials as given). */
function send(proxy: Proxy, options: { path?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer; auth?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: proxy.url.hostname.replace(/^\[|\]$/g, ''),
        port: proxy.port,
        method: options.method ?? 'POST',
        path: options.path ?? '/',
        headers: { ...(options.auth === false ? {} : { Authorization: `Basic ${Buffer.from(`byoc:${proxy.password}`).toString('base64')}` }), ...options.headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body ?? '');
  });
}

const sentSince = (before: number) => server.queries.slice(before).filter((query) => !query.sql.startsWith('KILL QUERY'));

/** Whether anything accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = httpRequest({ host: '127.0.0.1', port, path: '/ping' }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on('error', () => resolve(false));
    request.end();
  });
}

/** Waits until the grant watch sleeps again (after its broker poll), so moving time wakes it. */
async function sleeping(clock: ManualClock): Promise<void> {
  for (let waited = 0; clock.waiting === 0 && waited < 3000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function stopped(proxy: Proxy): Promise<number> {
  proxy.interrupt();
  return proxy.exited;
}

describe('byoc proxy clickhouse: who may use it', () => {
  it('prints the URL with a per-run password, and refuses a wrong or missing password with 401 / code 516', async () => {
    // Given a running proxy
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // Then its announcement names the URL, the user, the password, the request and the grant's end
      expect(proxy.announcement).toMatchObject({ host: '127.0.0.1', port: proxy.port, user: 'byoc', service: 'acme-prod', requestId: proxy.requestId });
      expect(proxy.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(Date.parse(String(proxy.announcement.endsAt))).toBeGreaterThan(Date.now());
      // When a client sends no password, or a wrong one (as basic auth, X-ClickHouse-Key or ?password=)
      const none = await send(proxy, { auth: false, body: 'SELECT 1 FROM system.one' });
      const wrong = await send(proxy, { auth: false, headers: { 'X-ClickHouse-User': 'byoc', 'X-ClickHouse-Key': `${proxy.password}x` }, body: 'SELECT 1 FROM system.one' });
      const param = await send(proxy, { auth: false, path: '/?password=nope', body: 'SELECT 1 FROM system.one' });
      // Then each is refused as ClickHouse refuses a login, and nothing reached the server
      for (const answer of [none, wrong, param]) {
        expect(answer.status).toBe(401);
        expect(answer.headers['x-clickhouse-exception-code']).toBe('516');
        expect(answer.body).toMatch(/^Code: 516\. DB::Exception: byoc proxy: wrong or missing password .*\(AUTHENTICATION_FAILED\)\n$/);
      }
      expect(sentSince(before)).toEqual([]);
      // And the right password works in each of the three ways ClickHouse reads one
      const key = await send(proxy, { auth: false, headers: { 'X-ClickHouse-Key': proxy.password }, body: 'SELECT 1 FROM system.one' });
      const asParam = await send(proxy, { auth: false, path: `/?password=${encodeURIComponent(proxy.password)}`, body: 'SELECT 1 FROM system.one' });
      const basic = await send(proxy, { body: 'SELECT 1 FROM system.one' });
      expect([key.status, asParam.status, basic.status]).toEqual([200, 200, 200]);
    } finally {
      expect(await stopped(proxy)).toBe(0);
    }
  });

  it('refuses a Host header that is not its own loopback address (a web page via DNS rebinding)', async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // When a request with the right password names another host
      const rebound = await send(proxy, { headers: { Host: `attacker.example:${proxy.port}` }, body: 'SELECT 1 FROM system.one' });
      const otherPort = await send(proxy, { headers: { Host: `127.0.0.1:${proxy.port + 1}` }, body: 'SELECT 1 FROM system.one' });
      // Then 403 with a ClickHouse-style body, and nothing reached the server; its own name works
      for (const answer of [rebound, otherPort]) {
        expect(answer.status).toBe(403);
        expect(answer.body).toContain('its Host header is not 127.0.0.1:');
      }
      expect(sentSince(before)).toEqual([]);
      expect((await send(proxy, { headers: { Host: `localhost:${proxy.port}` }, body: 'SELECT 1 FROM system.one' })).status).toBe(200);
      expect(proxy.stderr()).toContain('refused: Host "attacker.example:');
    } finally {
      await stopped(proxy);
    }
  });

  it('--address ::1 listens on IPv6 loopback and prints its URL with brackets', async () => {
    const proxy = await startProxy(['--json', '--address', '::1']);
    try {
      expect(proxy.announcement).toMatchObject({ host: '::1' });
      expect(proxy.url.href).toBe(`http://byoc:${proxy.password}@[::1]:${proxy.port}/`);
      // Node sends Host: [::1]:port, the proxy's own
      expect((await send(proxy, { body: 'SELECT 1 FROM system.one' })).status).toBe(200);
    } finally {
      await stopped(proxy);
    }
  });

  it('answers /ping and GET / as ClickHouse does, other paths 404', async () => {
    const proxy = await startProxy();
    try {
      expect(await send(proxy, { method: 'GET', path: '/ping', auth: false })).toMatchObject({ status: 200, body: 'Ok.\n' });
      expect(await send(proxy, { method: 'GET', path: '/', auth: false })).toMatchObject({ status: 200, body: 'Ok.\n' });
      expect((await send(proxy, { path: '/play' })).status).toBe(404);
    } finally {
      await stopped(proxy);
    }
  });

  it('without an approved request it is exit 4 with the next step, and nothing listens', async () => {
    // Given an engineer with no request for the service
    const stateDir = tempDir();
    const clock = new ManualClock(new Date());
    const { broker } = await openTestBroker(stateDir, clock as unknown as FakeClock);
    const cwd = tempDir({ 'ca.pem': caPem });
    writeFileSync(path.join(cwd, 'byoc.config.yaml'), `services:\n  acme-prod:\n    clickhouse: { url: "https://${HOST}:${server.port}", caFile: ./ca.pem }\n`);
    const harness = testBase({ cwd, clock: clock as unknown as FakeClock, env: { BYOC_STATE_DIR: stateDir }, clients: { broker: async () => embeddedClient(broker, 'alice@vendor.example', stateDir) } });
    // When she starts the proxy
    const code = await main(['proxy', 'clickhouse', 'acme-prod'], harness.base);
    // Then exit 4 naming the command to ask for access, and no URL on stdout
    expect(code).toBe(4);
    expect(harness.stderr.text).toContain('byoc access request acme-prod');
    expect(harness.stdout.text).toBe('');
  });

  it('a taken --port is exit 5 naming the port and how to pick another', async () => {
    // Given a proxy already on a port
    const first = await startProxy();
    try {
      // When a second one asks for the same port
      const second = await startProxy(['--json', '--port', String(first.port)]).catch((error: Error) => error);
      // Then it fails before serving, saying the port is taken and what to do
      expect(second).toBeInstanceOf(Error);
      expect((second as Error).message).toContain(`"code":"listen_address_in_use","message":"cannot listen on 127.0.0.1:${first.port}: port ${first.port} is already in use"`);
      expect((second as Error).message).toContain('--port 0 for a free one');
      expect((second as Error).message).toContain('(exit 5)');
    } finally {
      await stopped(first);
    }
  });

  it('refuses an address other than loopback with exit 2 saying why', async () => {
    // Given / When the proxy is asked to listen on every interface or a LAN address
    for (const address of ['0.0.0.0', '192.168.1.5', '::']) {
      const harness = testBase({ env: { BYOC_STATE_DIR: tempDir() } });
      const code = await main(['proxy', 'clickhouse', 'acme-prod', '--address', address], harness.base);
      // Then exit 2 before anything is opened, naming the address and the way to do it
      expect(code).toBe(2);
      expect(harness.stderr.text).toContain(`refusing to listen on ${address}: byoc proxy serves this machine only`);
      expect(harness.stderr.text).toContain('--address 127.0.0.1');
    }
  });
});

describe('byoc proxy clickhouse: what reaches the server', () => {
  it("refuses what the guard refuses with 403, code 497 and the guard's reason; nothing is sent", async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // When a client asks for a customer table, in the body or in the query parameter
      const body = await send(proxy, { body: 'SELECT * FROM default.orders' });
      const param = await send(proxy, { path: `/?query=${encodeURIComponent('DROP TABLE system.one')}` });
      // Then 403 with ClickHouse's error shape and the exception-code header
      expect(body.status).toBe(403);
      expect(body.headers['x-clickhouse-exception-code']).toBe('497');
      expect(body.body).toBe('Code: 497. DB::Exception: byoc proxy refused the statement: default.orders is not in the system or information_schema database; byoc reads system tables only. (ACCESS_DENIED)\n');
      expect(param.status).toBe(403);
      expect(param.body).toMatch(/^Code: 497\. DB::Exception: byoc proxy refused the statement: .*DROP/);
      expect(sentSince(before)).toEqual([]);
      // And one line per statement on stderr says so
      expect(proxy.stderr()).toMatch(/\t-\trefused: default\.orders is not in the system/);
    } finally {
      await stopped(proxy);
    }
  });

  it('checks the query parameter and the body together, and sends that text as the body only', async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // When the query parameter and the body each look harmless but together read a customer table
      const joined = await send(proxy, { path: `/?query=${encodeURIComponent('SELECT * FROM system.one,')}`, body: 'default.orders' });
      // Then it is refused as one statement
      expect(joined.status).toBe(403);
      expect(joined.body).toContain('default.orders');
      expect(sentSince(before)).toEqual([]);
      // When an allowed statement is split the same way
      const allowed = await send(proxy, { path: `/?query=${encodeURIComponent('SELECT 1 AS x FROM system.one')}`, body: 'FORMAT JSONEachRow' });
      // Then the server got exactly the checked text, as the POST body, with no query parameter
      expect(allowed).toMatchObject({ status: 200, body: '{"x":"1"}\n' });
      const [query] = sentSince(before);
      expect(query).toMatchObject({ sql: 'SELECT 1 AS x FROM system.one', format: 'JSONEachRow' });
      expect(query!.settings).not.toHaveProperty('query');
    } finally {
      await stopped(proxy);
    }
  });

  it('reads a gzip or deflate body, refuses another encoding (415) and an oversized body (413)', async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      const gzip = await send(proxy, { headers: { 'Content-Encoding': 'gzip' }, body: gzipSync('SELECT 1 AS x FROM system.one FORMAT JSONEachRow') });
      expect(gzip).toMatchObject({ status: 200, body: '{"x":"1"}\n' });
      const deflate = await send(proxy, { headers: { 'Content-Encoding': 'deflate' }, body: deflateSync('SELECT 2 AS x FROM system.one') });
      expect(deflate.status).toBe(200);
      expect(sentSince(before).map((query) => query.sql)).toEqual(['SELECT 1 AS x FROM system.one', 'SELECT 2 AS x FROM system.one']);
      // a compressed customer-table read is still read, and refused
      const hidden = await send(proxy, { headers: { 'Content-Encoding': 'gzip' }, body: gzipSync('SELECT * FROM default.orders') });
      expect(hidden.status).toBe(403);
      expect((await send(proxy, { headers: { 'Content-Encoding': 'br' }, body: 'x' })).status).toBe(415);
      const bomb = await send(proxy, { headers: { 'Content-Encoding': 'gzip' }, body: gzipSync(Buffer.alloc(MAX_BODY_BYTES + 1, 0x20)) });
      expect(bomb.status).toBe(413);
      expect(sentSince(before)).toHaveLength(2);
    } finally {
      await stopped(proxy);
    }
  });

  it("replaces the client's query_id, log_comment and readonly with byoc's tags, drops what could hide or widen it", async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // When a client sends its own tags, limits and settings that would hide the statement from the audit
      const params = new URLSearchParams({ query_id: 'mine', log_comment: 'nothing to see', readonly: '0', log_queries: '0', session_id: 's1', add_http_cors_header: '1', max_threads: '2', output_format_json_quote_64bit_integers: '0', user: 'default' });
      const result = await send(proxy, { path: `/?${params}`, body: 'SELECT 1 AS x FROM system.one' });
      expect(result.status).toBe(200);
      // Then the server saw byoc's query_id, log_comment, readonly and user agent, the certificate's user, and only the harmless settings
      const [query] = sentSince(before);
      expect(query!.queryId).toMatch(new RegExp(`^byoc-${proxy.requestId}-[0-9a-f-]{36}$`));
      expect(result.headers['x-clickhouse-query-id']).toBe(query!.queryId);
      expect(JSON.parse(query!.settings.log_comment!)).toEqual({ byoc: { request: proxy.requestId, engineer: 'alice@vendor.example', ticket: 'INC-7' } });
      expect(query!.settings).toMatchObject({ readonly: '1', max_execution_time: '60', max_threads: '2', output_format_json_quote_64bit_integers: '0' });
      for (const name of ['log_queries', 'session_id', 'add_http_cors_header', 'user']) expect(query!.settings).not.toHaveProperty(name);
      expect(query).toMatchObject({ commonName: 'alice@vendor.example', user: serverUserFor(proxy.requestId, 'alice@vendor.example'), certificateAuth: 'on', authorization: undefined });
      expect(query!.userAgent).toBe(`byoc/0.0.0-test (request ${proxy.requestId})`);
      expect(result.headers['access-control-allow-origin']).toBeUndefined();
      // And the stderr line names the statement's query_id and what was dropped
      expect(proxy.stderr()).toContain(`\t${query!.queryId}\tallowed (replaced: query_id, log_comment, readonly; dropped: log_queries, session_id, add_http_cors_header, user)`);
    } finally {
      await stopped(proxy);
    }
  });
});

describe('byoc proxy clickhouse: a server that refuses settings', () => {
  it("steps down byoc's own settings as byoc query does, but never because the client's setting was refused", async () => {
    // Given a proxy in front of a server whose user may change no setting
    const proxy = await startProxy(['--json'], new ManualClock(new Date()), readonlyServer);
    try {
      const before = readonlyServer.queries.length;
      // When a client sends a setting of its own
      const own = await send(proxy, { path: '/?max_threads=2', body: 'SELECT 1 FROM system.one' });
      // Then the server's refusal of it is the answer, and it was not sent again without readonly and the time limit
      expect(own.status).toBe(400);
      expect(own.body).toContain("Cannot modify 'max_threads' setting in readonly mode");
      expect(readonlyServer.queries.slice(before).map((query) => query.settings.readonly)).toEqual(['1']);
      // When a client sends none
      const plain = await send(proxy, { body: 'SELECT 1 FROM system.one' });
      // Then byoc's settings are stepped down until the server takes the statement (as byoc query does on such a server)
      expect(plain.status).toBe(200);
      expect(readonlyServer.queries.slice(before + 1).map((query) => Object.keys(query.settings).sort().join(','))).toEqual([
        'log_comment,max_execution_time,readonly',
        'max_execution_time,readonly',
        '',
      ]);
    } finally {
      await stopped(proxy);
    }
  });
});

describe('byoc proxy clickhouse: streaming and stopping', () => {
  it('streams the answer as it comes, and a client that goes away gets its query killed on the server', async () => {
    const proxy = await startProxy();
    try {
      const before = server.queries.length;
      // When a client asks for a result that never ends and reads its first bytes
      const { first, response, request } = await new Promise<{ first: string; response: IncomingMessage; request: ReturnType<typeof httpRequest> }>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: '/', headers: { Authorization: `Basic ${Buffer.from(`u:${proxy.password}`).toString('base64')}` } }, (response) => {
          response.once('data', (chunk: Buffer) => resolve({ first: chunk.toString('utf8'), response, request }));
        });
        request.on('error', reject);
        request.end(`${LONG} FORMAT TabSeparated`);
      });
      // Then rows arrived while the server still runs the query (nothing was held back until its end)
      expect(first).toMatch(/^0\n1\n/);
      expect(response.statusCode).toBe(200);
      const [query] = sentSince(before);
      expect(server.processes.has(query!.queryId!)).toBe(true);
      // When the client goes away mid-answer
      request.destroy();
      // Then byoc sends KILL QUERY for it, and the server no longer runs it
      for (let waited = 0; server.processes.has(query!.queryId!) && waited < 3000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(server.processes.has(query!.queryId!)).toBe(false);
      expect(server.queries.some((sent) => sent.sql === `KILL QUERY WHERE query_id = '${query!.queryId}' SYNC`)).toBe(true);
      for (let waited = 0; !proxy.stderr().includes('stopped: the client went away') && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(proxy.stderr()).toContain(`\t${query!.queryId}\tstopped: the client went away; cancelled on the server`);
    } finally {
      await stopped(proxy);
    }
  });

  it('Ctrl-C stops it with exit 0: the port is closed and a running query is killed on the server', async () => {
    // Given a proxy printing for a person (text) and a query running through it
    const proxy = await startProxy([]);
    expect(proxy.stdout()).toMatch(/^http:\/\/byoc:[A-Za-z0-9_-]{32}@127\.0\.0\.1:\d+\/\ncurl 'http:\/\/byoc:.*' --data-binary 'SELECT version\(\)'\nserving acme-prod as r-/);
    const before = server.queries.length;
    const pending = send(proxy, { body: `${LONG} FORMAT TabSeparated` }).catch((error: Error) => error);
    for (let waited = 0; sentSince(before).length === 0 && waited < 3000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const [query] = sentSince(before);
    // When the engineer presses Ctrl-C
    const code = await stopped(proxy);
    // Then exit 0, the query is no longer running on the server, and nothing listens on the port
    expect(code, proxy.stderr()).toBe(0);
    expect(server.processes.has(query!.queryId!)).toBe(false);
    expect(await pending).toBeInstanceOf(Error);
    expect(await listening(proxy.port)).toBe(false);
  });

  it('runs no statement past the grant: max_execution_time shrinks near its end, and the last seconds are refused', async () => {
    // Given a proxy 40 s before the grant ends
    const clock = new ManualClock(new Date());
    const proxy = await startProxy(['--json'], clock);
    try {
      const endsAt = Date.parse(String(proxy.announcement.endsAt));
      await sleeping(clock);
      await clock.advance(endsAt - clock.now().getTime() - 40_000);
      const before = server.queries.length;
      // When a statement comes, then another 5 s before the end
      expect((await send(proxy, { body: 'SELECT 1 FROM system.one' })).status).toBe(200);
      await sleeping(clock);
      await clock.advance(35_000);
      const late = await send(proxy, { body: 'SELECT 1 FROM system.one' });
      // Then the first may run 30 s at most (it ends before the certificate does, while KILL QUERY still gets through)
      expect(sentSince(before).map((query) => query.settings.max_execution_time)).toEqual(['30']);
      // and the second is refused, saying why
      expect(late.status).toBe(403);
      expect(late.body).toContain('byoc proxy refused the statement: your access ends at');
      expect(sentSince(before)).toHaveLength(1);
    } finally {
      await stopped(proxy);
    }
  });

  it("ends with exit 4 at the grant's end (after the 10 and 2 minute warnings), and the port is closed", async () => {
    // Given a proxy whose clock only moves when the test says so
    const clock = new ManualClock(new Date());
    const proxy = await startProxy(['--json'], clock);
    expect((await send(proxy, { body: 'SELECT 1 FROM system.one' })).status).toBe(200);
    // When time reaches each warning mark (10 and 2 minutes before the end), then the end itself
    const endsAt = Date.parse(String(proxy.announcement.endsAt));
    for (const mark of GRANT_WARNINGS_MS) {
      await sleeping(clock);
      await clock.advance(endsAt - clock.now().getTime() - mark);
      expect(proxy.stderr()).toContain(`warning: your access to acme-prod (${proxy.requestId}) ends in ${mark / 60_000}m`);
      expect(await listening(proxy.port)).toBe(true);
    }
    await sleeping(clock);
    await clock.advance(endsAt - clock.now().getTime());
    // Then it says the grant ended and exits 4, and the port no longer answers
    const code = await proxy.exited;
    expect(code).toBe(4);
    // (the watch's own end, or the broker's answer at the poll that falls on it: both say the grant is over)
    expect(proxy.stderr()).toMatch(/"code":"(grant_ended|access_expired)"/);
    expect(proxy.stderr()).toContain(`byoc access request acme-prod`);
    expect(await listening(proxy.port)).toBe(false);
  });
});
