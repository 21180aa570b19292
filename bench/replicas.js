#!/usr/bin/env node
// Served brokers as a team runs them, each a `byoc broker serve` process: request > approve > certificate
// lifecycles per second for one JSONL broker, one PostgreSQL broker and two PostgreSQL brokers on one database behind
// a round-robin client (each call to the next broker), each round next to the same three round trips against a bare
// node HTTP server process, interleaved (target: two Postgres replicas >= 1.5x one JSONL broker).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BYOC, compare, report, runsFromEnv } from './lib.js';
import { startCluster } from './lib-postgres.js';

const dist = new URL('../dist/src/', import.meta.url);
const { generateKeyPairPem, createCsr } = await import(new URL('pki/x509.js', dist));

const LIFECYCLES = Number(process.env.BENCH_LIFECYCLES ?? 300);
const CONCURRENCY = 16;
const work = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-replicas-'));
const children = [];
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP call with the client machinery the CLI uses (node:http, keep-alive). */
function call(url, method, body, token) {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, agent, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (response.statusCode >= 300) reject(new Error(`${method} ${url}: ${response.statusCode} ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Starts `byoc broker serve` on a free loopback port; resolves with its URL once it listens. */
function serve(cwd, env) {
  const child = spawn(process.execPath, [BYOC, 'broker', 'serve', '--listen', '127.0.0.1:0'], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url) resolve(url);
    });
    child.on('exit', (code) => reject(new Error(`broker serve exited ${code}: ${stderr}`)));
  });
}

/** A team's broker host: configuration, state folder and the two people's tokens (made before it serves). */
function host(store) {
  const dir = mkdtempSync(path.join(work, 'host-'));
  const stateDir = path.join(dir, 'state');
  writeFileSync(path.join(dir, 'byoc.config.yaml'), `policy: { approvers: [bob@vendor.example] }\nservices: { acme-prod: {} }\n${store ? `broker: { store: "${store}" }\n` : ''}`);
  const env = { BYOC_STATE_DIR: stateDir, NO_COLOR: '1' };
  const run = (args) => {
    const result = spawnSync(process.execPath, [BYOC, ...args], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`byoc ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return result.stdout.trim();
  };
  if (store) run(['broker', 'migrate']);
  const tokens = { alice: run(['broker', 'token', 'create', 'alice@vendor.example']), bob: run(['broker', 'token', 'create', 'bob@vendor.example']) };
  return { dir, env, tokens };
}

/** Lifecycles per second through `urls`, each call to the next one in turn. */
async function lifecyclesPerSecond(urls, tokens, csr) {
  let turn = 0;
  const next = () => urls[turn++ % urls.length];
  let started = 0;
  const begin = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (started < LIFECYCLES) {
      started++;
      const request = await call(`${next()}/v1/requests`, 'POST', { service: 'acme-prod', reason: 'bench', duration: '1h' }, tokens.alice);
      await call(`${next()}/v1/requests/${request.id}/approve`, 'POST', {}, tokens.bob);
      await call(`${next()}/v1/requests/${request.id}/certificate`, 'POST', { csr }, tokens.alice);
    }
  }));
  return LIFECYCLES / (Number(process.hrtime.bigint() - begin) / 1e9);
}

/** The floor: the same three round trips against a node HTTP server process that parses and answers JSON. */
async function bareServer() {
  const child = spawn(process.execPath, ['-e', `
    const server = require('node:http').createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => { JSON.parse(Buffer.concat(chunks).toString() || '{}'); res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"r-x","identity":"x"}'); });
    });
    server.listen(0, '127.0.0.1', () => process.stderr.write('listening on http://127.0.0.1:' + server.address().port + '\\n'));
  `], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve) => {
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url) resolve(url);
    });
  });
}

const measures = [];
let cluster;
try {
  const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
  const bare = await bareServer();
  const bareLifecycle = (urls) => lifecyclesPerSecond(urls, {}, csr);

  const jsonl = host();
  const jsonlUrl = await serve(jsonl.dir, jsonl.env);

  cluster = await startCluster();
  const pgStore = await cluster.database('byoc_bench');
  const pg = host(pgStore);
  const pgUrls = [await serve(pg.dir, pg.env), await serve(pg.dir, pg.env)];

  const setups = {
    'one JSONL broker': () => lifecyclesPerSecond([jsonlUrl], jsonl.tokens, csr),
    'one PostgreSQL broker': () => lifecyclesPerSecond([pgUrls[0]], pg.tokens, csr),
    'two PostgreSQL brokers, round-robin': () => lifecyclesPerSecond(pgUrls, pg.tokens, csr),
  };
  const rates = Object.fromEntries(Object.keys(setups).map((name) => [name, []]));
  const bareRates = [];
  // warm-up: JIT, the CA's first use, the pools' connections
  for (const run of Object.values(setups)) await run();
  await bareLifecycle([bare]);
  for (let round = 0; round < runsFromEnv(7); round++) {
    for (const [name, run] of Object.entries(setups)) rates[name].push(await run());
    bareRates.push(await bareLifecycle([bare]));
  }
  for (const [name, samples] of Object.entries(rates)) {
    measures.push(compare(`lifecycles per second, ${name} (${LIFECYCLES} per round, ${CONCURRENCY} at once)`, samples, bareRates, { baselineName: 'bare HTTP process, 3 round trips', unit: '/s', atLeast: true }));
  }
  const two = rates['two PostgreSQL brokers, round-robin'];
  const one = rates['one JSONL broker'];
  measures.push({
    ...compare('two PostgreSQL brokers vs one JSONL broker', two, one, { baselineName: 'one JSONL broker', unit: '/s', budget: 1.5, atLeast: true }),
    note: `${os.availableParallelism()} cores`,
  });
} finally {
  for (const child of children) child.kill('SIGKILL');
  agent.destroy();
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
}
report('replicas', measures);
