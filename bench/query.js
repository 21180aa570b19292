#!/usr/bin/env node
// `byoc query` through the sandbox (real ClickHouse behind nginx mutual TLS), each figure next to its baseline in
// the same run, interleaved, high-resolution timers (bench/lib.js):
//  - a 1-row query, whole process, against the floor a Node CLI can reach: a bare Node script doing one
//    https.request with the same certificate and piping the response (bench/baselines/node-request.js); <= 1.4x;
//  - streaming alone (10M rows minus 1 row, per run) against curl with the same certificate and endpoint, <= 1.35x;
//    the bare Node script's streaming is printed beside it, as the floor for Node;
//  - peak RSS at 10M rows against 1M rows: flat (<= 1.2x);
//  - the broker's read path: the same 1-row query with 10k and 100k events in the broker's log against 3 events
//    (a copy of the state folder whose log first holds a year of finished requests), within 1.1x.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BYOC, compare, median, peakRssKb, report, runsFromEnv, timeRun } from './lib.js';
import { startSandbox } from './lib-sandbox.js';

const NODE_REQUEST = fileURLToPath(new URL('./baselines/node-request.js', import.meta.url));
const dist = new URL('../dist/src/', import.meta.url);
const { writeEventLog } = await import(new URL('access/store.js', dist));

const sandbox = startSandbox();
const copies = [];
try {
  const { up, cert, env, cwd, stateDir } = sandbox;
  const url = new URL(up.nginx.url);
  const sql = (rows) => `SELECT number FROM system.numbers LIMIT ${rows}`;
  const endpoint = (rows) => `${url.origin}/?query=${encodeURIComponent(`${sql(rows)} FORMAT TabSeparatedWithNames`)}`;
  const options = (extraEnv = {}) => ({ cwd, env: { ...process.env, ...env, ...extraEnv } });
  const byocArgs = (rows) => [BYOC, 'query', 'sandbox', sql(rows), '--format', 'tsv', '--max-rows', '0', '--timeout', '600s'];
  const byoc = (rows, extraEnv) => timeRun(process.execPath, byocArgs(rows), options(extraEnv));
  const curl = (rows) =>
    timeRun('curl', ['-sS', '--fail', '--cacert', cert.caPath, '--cert', cert.certPath, '--key', cert.keyPath, '--resolve', `${url.hostname}:${url.port}:127.0.0.1`, '-o', '/dev/null', endpoint(rows)]);
  const bareNode = (rows) =>
    timeRun(process.execPath, [NODE_REQUEST, endpoint(rows)], { env: { ...process.env, BENCH_CA: cert.caPath, BENCH_CERT: cert.certPath, BENCH_KEY: cert.keyPath, BENCH_RESOLVE: `${url.hostname}:127.0.0.1` } });

  // The broker's log with a year of finished requests before the live one, in copies of the state folder.
  const live = readFileSync(path.join(stateDir, 'broker', 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const withEvents = (count) => {
    const dir = `${stateDir}-${count}`;
    execFileSync('cp', ['-a', stateDir, dir]);
    copies.push(dir);
    const events = [...finishedRequests(count - live.length, { requester: up.requester, approver: up.approver }), ...live];
    rmSync(path.join(dir, 'broker', 'events.jsonl'));
    return writeEventLog(path.join(dir, 'broker'), events).then(() => ({ BYOC_STATE_DIR: dir, count: events.length }));
  };
  const large = { '10k': await withEvents(10_000), '100k': await withEvents(100_000) };

  // Warm-up: file caches, the certificate check, and whatever the broker keeps beside its log.
  for (const extra of [undefined, large['10k'], large['100k']]) byoc(1, extra);
  curl(1000);
  bareNode(1000);

  const runs = runsFromEnv(9);
  const s = { byoc1: [], node1: [], curl1: [], byoc10m: [], curl10m: [], node10m: [], at10k: [], at100k: [] };
  for (let i = 0; i < runs; i++) {
    s.byoc1.push(byoc(1));
    s.node1.push(bareNode(1));
    s.curl1.push(curl(1));
    s.at10k.push(byoc(1, large['10k']));
    s.at100k.push(byoc(1, large['100k']));
    s.byoc10m.push(byoc(10_000_000));
    s.curl10m.push(curl(10_000_000));
    s.node10m.push(bareNode(10_000_000));
  }
  // Streaming alone: each run's 10M-row time minus the same run's 1-row time (the fixed start cancels out).
  const minus = (a, b) => a.map((value, index) => value - b[index]);
  const stream = { byoc: minus(s.byoc10m, s.byoc1), curl: minus(s.curl10m, s.curl1), node: minus(s.node10m, s.node1) };
  const rss1m = median([1, 2, 3].map(() => peakRssKb(process.execPath, byocArgs(1_000_000), options())));
  const rss10m = median([1, 2, 3].map(() => peakRssKb(process.execPath, byocArgs(10_000_000), options())));

  report(`query (sandbox: ClickHouse 18.16 behind nginx mTLS; ${runs} interleaved runs)`, [
    compare('1-row query, whole process', s.byoc1, s.node1, { baselineName: 'bare Node https.request, same cert', budget: 1.4 }),
    compare('1-row query vs curl', s.byoc1, s.curl1, { baselineName: 'curl, same cert and endpoint' }),
    compare('streaming 10M rows TSV (minus 1 row)', stream.byoc, stream.curl, { baselineName: 'curl, same cert and endpoint', budget: 1.35 }),
    compare('bare Node streaming 10M rows (the floor)', stream.node, stream.curl, { baselineName: 'curl, same' }),
    { name: 'peak RSS at 10M rows vs 1M', byoc: rss10m / 1024, baseline: rss1m / 1024, baselineName: 'byoc at 1M rows', unit: 'MiB', ratio: rss10m / rss1m, target: 'flat (<= 1.2x)', ok: rss10m / rss1m <= 1.2 },
    compare(`1-row query, broker log of ${large['10k'].count} events`, s.at10k, s.byoc1, { baselineName: `same, ${live.length} events`, budget: 1.1 }),
    compare(`1-row query, broker log of ${large['100k'].count} events`, s.at100k, s.byoc1, { baselineName: `same, ${live.length} events`, budget: 1.1 }),
  ]);
} finally {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  sandbox.stop();
}

/**
 * `count` events of finished requests over the last year, before the live one: most approved, used and expired,
 * some denied, some revoked; ids, serials and times unlike any live one's.
 */
function* finishedRequests(count, { requester, approver }) {
  const yearAgo = Date.now() - 366 * 86_400_000;
  let produced = 0;
  for (let index = 0; produced < count; index++) {
    const created = new Date(yearAgo + index * 600_000);
    const at = (minutes) => new Date(created.getTime() + minutes * 60_000).toISOString();
    const id = `r-y${index.toString(36).padStart(9, '0')}`;
    const events = [
      { type: 'request.created', at: at(0), id, service: 'sandbox', scopes: ['clickhouse'], requester, reason: `incident ${index}`, ticket: `INC-${index}`, duration: '1h', durationMs: 3_600_000, approvalsRequired: 1, pendingUntil: at(60) },
    ];
    if (index % 4 === 3) events.push({ type: 'request.reviewed', at: at(2), id, reviewer: approver, decision: 'deny', comment: 'not needed' });
    else {
      events.push({ type: 'request.reviewed', at: at(2), id, reviewer: approver, decision: 'approve' });
      events.push({ type: 'certificate.issued', at: at(3), id, serial: `ee${index.toString(16).padStart(30, '0')}`, notAfter: at(62), identity: requester });
      if (index % 7 === 0) events.push({ type: 'request.revoked', at: at(20), id, by: approver, comment: 'done' });
    }
    for (const event of events) {
      if (produced++ >= count) return;
      yield event;
    }
  }
}

