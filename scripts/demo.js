#!/usr/bin/env node
// `npm run demo`: the whole troubleshooting flow, for real, on the local sandbox (a real ClickHouse behind a
// real nginx doing mutual TLS), narrated step by step. Each step runs the byoc CLI as a user would; on a
// terminal its ink views show, piped it prints plain text. It leaves nothing running.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BYOC = fileURLToPath(new URL('../bin/byoc.js', import.meta.url));
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (text) => (tty ? `\u001b[1m${text}\u001b[22m` : text);
const dim = (text) => (tty ? `\u001b[2m${text}\u001b[22m` : text);
const started = Date.now();
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'byoc-demo-'));
const cwd = stateDir;
let step = 0;
let sandboxUp = false;

function say(title) {
  step++;
  process.stdout.write(`\n${bold(`[${step}] ${title}`)}\n`);
}

function note(text) {
  process.stdout.write(`${dim(`    ${text}`)}\n`);
}

/** Runs `byoc args` as `user`, shows it, and checks the exit code is one of `expect`. */
function byoc(user, args, { expect = [0], capture = false } = {}) {
  const shown = args.map((arg) => (/[\s'"*]/.test(arg) ? `'${arg.replace(/'/g, "'\\''")}'` : arg)).join(' ');
  process.stdout.write(`${dim(user ? `${user} $` : '$')} byoc ${shown}\n`);
  const result = spawnSync(process.execPath, [BYOC, ...args], {
    cwd,
    env: { ...process.env, BYOC_STATE_DIR: stateDir, ...(user ? { BYOC_USER: user } : {}) },
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  if (!expect.includes(result.status)) {
    if (capture) process.stderr.write(result.stderr);
    throw new Error(`byoc ${shown} exited ${result.status}, expected ${expect.join(' or ')}`);
  }
  if (expect.length === 1 && expect[0] !== 0) note(`exit ${result.status}, as expected`);
  return result;
}

/** A request with the engineer's certificate straight to one of the customer's nginx doors, outside byoc. */
function direct(cert, doorUrl, options, body) {
  const url = new URL(doorUrl);
  return new Promise((resolve, reject) => {
    https
      .request(
        {
          host: '127.0.0.1',
          port: url.port,
          servername: url.hostname,
          ca: readFileSync(cert.caPath),
          cert: readFileSync(cert.certPath),
          key: readFileSync(cert.keyPath),
          ...options,
        },
        (response) => {
          let answer = '';
          response.on('data', (chunk) => (answer += chunk));
          response.on('end', () => resolve({ status: response.statusCode, body: answer }));
        },
      )
      .on('error', reject)
      .end(body);
  });
}

/** What an engineer could try by hand with their certificate, outside byoc: SQL to the ClickHouse door. */
function directQuery(cert, up, requestId, sql) {
  return direct(cert, up.nginx.url, { method: 'POST', path: `/?query_id=byoc-${requestId}-by-hand` }, sql);
}

/** The same, to nginx's metrics door in front of Prometheus: a call of the Prometheus HTTP API. */
function directMetrics(cert, up, requestId, urlPath, method = 'GET') {
  return direct(cert, up.nginx.metricsUrl, { method, path: urlPath, headers: { 'X-Byoc-Request': requestId } });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Shows and runs an outside program (curl, as anyone would type it), and returns what it printed. */
function outside(shown, file, args) {
  process.stdout.write(`${dim('$')} ${shown}\n`);
  const result = spawnSync(file, args, { cwd, encoding: 'utf8', timeout: 20_000 });
  process.stdout.write(result.stdout.replace(/^/gm, '    ').replace(/ +$/, ''));
  if (result.stdout && !result.stdout.endsWith('\n')) process.stdout.write('\n');
  return result;
}

/** `byoc proxy clickhouse SERVICE --json` in the background, as an engineer leaves it running in a terminal; resolves with its announcement. */
function startProxy(user, service) {
  process.stdout.write(`${dim(`${user} $`)} byoc proxy clickhouse ${service} --json &\n`);
  const child = spawn(process.execPath, [BYOC, 'proxy', 'clickhouse', service, '--json'], {
    cwd,
    env: { ...process.env, BYOC_STATE_DIR: stateDir, BYOC_USER: user },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (chunk) => (errors += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve({ ...JSON.parse(line), stop: () => (child.kill('SIGTERM'), exited), log: () => errors });
    });
    exited.then((code) => reject(new Error(`byoc proxy exited ${code}: ${errors}`)));
  });
}

/** `byoc metrics` once it is built (issue #18's commands); until then the demo asks the metrics door itself. */

try {
  say('Start the sandbox: a customer ClickHouse and Prometheus behind nginx with mutual TLS, on loopback');
  const installFlag = process.getuid?.() === 0 ? ['--install'] : [];
  const up = JSON.parse(byoc(undefined, ['sandbox', 'up', '--json', ...installFlag], { capture: true }).stdout);
  sandboxUp = true;
  const engineer = up.requester;
  const approver = up.approver;
  note(`service "${up.service}" at ${up.nginx.url}, metrics at ${up.nginx.metricsUrl}; engineer ${engineer}, approver ${approver}`);

  say('The engineer asks for time-bound access, with a reason and a ticket');
  const request = JSON.parse(byoc(engineer, ['access', 'request', 'sandbox', '--reason', 'merges stuck on the orders table', '--ticket', 'INC-4821', '--duration', '1h', '--no-wait', '--json'], { expect: [8], capture: true }).stdout);
  note(`request ${request.id} is ${request.status} (exit 8 = pending)`);
  byoc(engineer, ['access', 'show', request.id]);

  say('Approving your own request is refused; a designated approver approves');
  byoc(engineer, ['access', 'approve', request.id], { expect: [4] });
  byoc(approver, ['access', 'approve', request.id, '--comment', 'ok for INC-4821']);
  note('approval applied the operator step in the sandbox: a read-only ClickHouse user for this request, system tables only');

  say('The engineer retrieves a short-lived certificate (the key never leaves this machine)');
  byoc(engineer, ['cert', 'get', 'sandbox']);

  say('Check the path to the endpoint');
  note('there is no Tailscale here: the path check says so honestly (exit 6), and the TLS path to the sandbox is still checked');
  byoc(engineer, ['connect', 'check', 'sandbox', '--count', '1', '--timeout', '2s'], { expect: [0, 6] });

  say('Read-only queries on system tables, over mutual TLS');
  byoc(engineer, ['query', 'sandbox', '--preset', 'parts']);
  byoc(engineer, ['query', 'sandbox', 'SELECT metric, value FROM system.metrics WHERE value > 0 ORDER BY metric']);
  note('a query on the customer table is refused by byoc before anything is sent:');
  byoc(engineer, ['query', 'sandbox', 'SELECT * FROM default.orders'], { expect: [4] });
  note('going around byoc with the same certificate does not help: the server refuses it too (and logs it)');
  // certificates are stored per identity: cert show says where this engineer's are
  const cert = JSON.parse(byoc(engineer, ['cert', 'show', 'sandbox', '--json'], { capture: true }).stdout);
  const refused = await directQuery(cert, up, request.id, 'SELECT * FROM default.orders');
  process.stdout.write(`${dim('    curl-like POST with the engineer certificate ->')} HTTP ${refused.status}: ${refused.body.split(',')[0].trim()}\n`);
  if (refused.status === 200) throw new Error('the server answered a query on default.orders');

  say('Other tools: where to go (byoc services), the certificate for curl (byoc cert env), and a guarded local endpoint');
  byoc(engineer, ['services']);
  note('byoc cert env prints what curl or clickhouse-client need; straight to the server, only its read-only user holds:');
  const curlFlags = byoc(engineer, ['cert', 'env', 'sandbox', '--format', 'curl'], { capture: true }).stdout.trim();
  outside("curl $(byoc cert env sandbox --format curl) --data-binary 'SELECT version()'", 'sh', ['-c', `curl -sS $1 --data-binary 'SELECT version()'`, 'sh', curlFlags]);
  note('byoc proxy clickhouse: an endpoint on 127.0.0.1 (a password per run) for any HTTP tool; the guard and the tags apply to every statement');
  const proxy = await startProxy(engineer, 'sandbox');
  note(`listening on ${proxy.host}:${proxy.port} for ${proxy.requestId} until ${proxy.endsAt}`);
  try {
    const viaProxy = outside(`curl '${proxy.url.replace(proxy.password, '***')}' --data-binary 'SELECT name FROM system.databases'`, 'curl', ['-sS', '--fail-with-body', proxy.url, '--data-binary', 'SELECT name FROM system.databases']);
    if (viaProxy.status !== 0) throw new Error(`curl through byoc proxy failed: ${viaProxy.stderr}${viaProxy.stdout}`);
    const refusedViaProxy = outside(`curl -w 'HTTP %{http_code}\\n' '${proxy.url.replace(proxy.password, '***')}' --data-binary 'SELECT * FROM default.orders'`, 'curl', ['-sS', '-w', 'HTTP %{http_code}\n', proxy.url, '--data-binary', 'SELECT * FROM default.orders']);
    if (!refusedViaProxy.stdout.includes('HTTP 403')) throw new Error(`byoc proxy let a customer-table query through: ${refusedViaProxy.stdout}`);
    const noPassword = outside(`curl -w 'HTTP %{http_code}\\n' 'http://${proxy.host}:${proxy.port}/' --data-binary 'SELECT 1'`, 'curl', ['-sS', '-w', 'HTTP %{http_code}\n', `http://${proxy.host}:${proxy.port}/`, '--data-binary', 'SELECT 1']);
    if (!noPassword.stdout.includes('HTTP 401')) throw new Error(`byoc proxy answered without its password: ${noPassword.stdout}`);
  } finally {
    const code = await proxy.stop();
    note(`the proxy's log (stderr), one line per statement; stopped with exit ${code}:`);
    process.stdout.write(proxy.log().replace(/^/gm, '    ').replace(/ +$/, ''));
  }

  say('Metrics: read-only Prometheus queries through the same grant, certificate and proxy');
  note('the request names the metrics scope (with clickhouse and kubernetes), so nginx maps its certificate at the metrics door too');
  // Prometheus scrapes every 2 s: wait for the node exporter's first samples.
  let load = { status: 0, body: '' };
  for (let attempt = 0; attempt < 40; attempt++) {
    load = await directMetrics(cert, up, request.id, '/api/v1/query?query=node_load1');
    if (load.status === 200 && JSON.parse(load.body).data.result.length > 0) break;
    await sleep(500);
  }
  if (load.status !== 200) throw new Error(`the metrics door answered HTTP ${load.status}: ${load.body}`);
  byoc(engineer, ['metrics', 'query', 'sandbox', 'node_load1']);
  byoc(engineer, ['metrics', 'range', 'sandbox', 'up', '--since', '1m', '--step', '5s']);
  note('whatever the client sends, nginx passes only the read endpoints: admin and lifecycle paths are refused there');
  for (const [method, urlPath] of [['POST', '/api/v1/admin/tsdb/snapshot'], ['POST', '/-/quit']]) {
    const answer = await directMetrics(cert, up, request.id, urlPath, method);
    process.stdout.write(`${dim(`    ${method} ${urlPath} ->`)} HTTP ${answer.status}: ${answer.body.trim()}\n`);
    if (answer.status !== 403) throw new Error(`the metrics door let ${method} ${urlPath} through`);
  }

  say("The customer audits the engineer's activity in their own query_log");
  note("the server stamped every query with the grant's own user, so the audit names the engineer and the request by itself");
  byoc(undefined, ['audit', 'query-log', 'sandbox', '--flush', '--since', '1h']);
  note('the approved windows come from the broker (byoc access list --json): with them the audit also flags queries outside a window');
  const grants = byoc(approver, ['access', 'list', '--service', 'sandbox', '--json'], { capture: true }).stdout;
  writeFileSync(path.join(cwd, 'grants.json'), grants);
  byoc(undefined, ['audit', 'query-log', 'sandbox', '--since', '1h', '--grants', 'grants.json', '--findings-only'], { expect: [0, 4] });
  note("and every metrics call, from nginx's log: the request comes from the certificate, not from the header");
  byoc(undefined, ['audit', 'metrics', '--since', '1h']);

  say('Access is revoked; the server refuses the certificate at once, even around byoc, and byoc says what to do next');
  byoc(approver, ['access', 'revoke', request.id, '--comment', 'incident closed']);
  const afterRevoke = await directQuery(cert, up, request.id, 'SELECT 1').catch((error) => ({ status: 0, body: error.message }));
  process.stdout.write(`${dim('    curl-like POST with the revoked certificate ->')} refused (${afterRevoke.status ? `HTTP ${afterRevoke.status}` : `connection closed: ${afterRevoke.body}`})\n`);
  if (afterRevoke.status === 200) throw new Error('the server still answered the revoked certificate');
  const metricsAfterRevoke = await directMetrics(cert, up, request.id, '/api/v1/query?query=up').catch((error) => ({ status: 0, body: error.message }));
  process.stdout.write(`${dim('    the same certificate at the metrics door ->')} refused (${metricsAfterRevoke.status ? `HTTP ${metricsAfterRevoke.status}` : `connection closed: ${metricsAfterRevoke.body}`})\n`);
  if (metricsAfterRevoke.status === 200) throw new Error('the metrics door still answered the revoked certificate');
  byoc(engineer, ['query', 'sandbox', 'SELECT 1 FROM system.one'], { expect: [4] });

  say('Stop the sandbox');
  byoc(undefined, ['sandbox', 'down']);
  sandboxUp = false;
  process.stdout.write(`\n${bold(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`)} Nothing is left running.\n`);
} catch (error) {
  process.stderr.write(`\ndemo failed: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  if (sandboxUp) spawnSync(process.execPath, [BYOC, 'sandbox', 'down'], { env: { ...process.env, BYOC_STATE_DIR: stateDir }, stdio: 'ignore' });
  rmSync(stateDir, { recursive: true, force: true });
}
