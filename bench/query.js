#!/usr/bin/env node
// `byoc query` streaming through the sandbox (real ClickHouse behind nginx mutual TLS) against curl with the
// same certificate on the same endpoint, in one run: 1M rows of system.numbers as TSV (target <= 1.3x), and
// byoc's peak RSS at 1M and 10M rows (target: flat, the 10M figure within 1.2x of the 1M one).
// Also printed: the streaming cost alone (10M rows minus 1 row, for both), which separates byoc's fixed
// start (Node.js, configuration, certificate check, TLS) from how fast it moves rows.
import { spawnSync } from 'node:child_process';
import { BYOC, median, report } from './lib.js';
import { startSandbox } from './lib-sandbox.js';

const sandbox = startSandbox();
try {
  const { up, cert, env, cwd } = sandbox;
  const url = new URL(up.nginx.url);
  const sql = (rows) => `SELECT number FROM system.numbers LIMIT ${rows}`;
  const timed = (command, args, extraEnv = {}) => {
    const result = spawnSync('/usr/bin/time', ['-f', '%e %M', command, ...args], { cwd, env: { ...process.env, ...env, ...extraEnv }, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
    const [seconds, kilobytes] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
    return { ms: seconds * 1000, rssKb: kilobytes };
  };
  const byocRun = (rows) => timed(process.execPath, [BYOC, 'query', 'sandbox', sql(rows), '--format', 'tsv', '--max-rows', '0', '--timeout', '600s']);
  const curlRun = (rows) =>
    timed('curl', ['-sS', '--fail', '--cacert', cert.caPath, '--cert', cert.certPath, '--key', cert.keyPath, '--resolve', `${url.hostname}:${url.port}:127.0.0.1`, '-o', '/dev/null', `${url.origin}/?query=${encodeURIComponent(`${sql(rows)} FORMAT TabSeparatedWithNames`)}`]);
  byocRun(1000);
  curlRun(1000);
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const byocTimes = [];
  const curlTimes = [];
  for (let i = 0; i < runs; i++) {
    byocTimes.push(byocRun(1_000_000).ms);
    curlTimes.push(curlRun(1_000_000).ms);
  }
  const rss1m = byocRun(1_000_000).rssKb;
  const rss10m = byocRun(10_000_000).rssKb;
  const byocMs = median(byocTimes);
  const curlMs = median(curlTimes);
  const one = { byoc: [], curl: [] };
  const ten = { byoc: [], curl: [] };
  for (let i = 0; i < 3; i++) {
    one.byoc.push(byocRun(1).ms);
    one.curl.push(curlRun(1).ms);
    ten.byoc.push(byocRun(10_000_000).ms);
    ten.curl.push(curlRun(10_000_000).ms);
  }
  const byocStream = median(ten.byoc) - median(one.byoc);
  const curlStream = median(ten.curl) - median(one.curl);
  report('query (sandbox: ClickHouse behind nginx mTLS)', [
    { name: '1M rows TSV, wall time', byoc: byocMs, baseline: curlMs, baselineName: 'curl, same cert and endpoint', unit: 'ms', ratio: byocMs / curlMs, target: '<= 1.3x', ok: byocMs / curlMs <= 1.3 },
    { name: 'streaming only: 10M rows minus 1 row', byoc: byocStream, baseline: curlStream, baselineName: 'curl, same', unit: 'ms', ratio: byocStream / curlStream, target: '(informational)' },
    { name: 'fixed start: 1 row', byoc: median(one.byoc), baseline: median(one.curl), baselineName: 'curl, same', unit: 'ms', ratio: median(one.byoc) / median(one.curl), target: '(informational)' },
    { name: 'peak RSS at 10M rows vs 1M', byoc: rss10m / 1024, baseline: rss1m / 1024, baselineName: 'byoc at 1M rows', unit: 'MiB', ratio: rss10m / rss1m, target: 'flat (<= 1.2x)', ok: rss10m / rss1m <= 1.2 },
  ]);
} finally {
  sandbox.stop();
}
