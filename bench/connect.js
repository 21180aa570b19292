#!/usr/bin/env node
// `byoc connect check` with two endpoints against each endpoint alone, in one run. The Tailscale pings and
// the DNS/TCP/TLS probes of both endpoints run concurrently, so two endpoints should cost about the slowest
// one: target <= 1.2x. The fake `tailscale` answers each ping after a delay (ClickHouse 400 ms,
// Kubernetes 700 ms); each endpoint is a local TLS server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BYOC, compare, median, report, runsFromEnv } from './lib.js';

const dist = new URL('../dist/src/', import.meta.url);
const { createCa, issueServerCertificate } = await import(new URL('pki/ca.js', dist));
const { generateKeyPairPem } = await import(new URL('pki/x509.js', dist));
const fakeDir = fileURLToPath(new URL('../test/fakes/tailscale/', import.meta.url));
const fixtures = fileURLToPath(new URL('../test/fixtures/tailscale/', import.meta.url));

const CH = 'ch.abc123.us-east-1.aws.byoc.example.com';
const K8S = 'k8s.abc123.us-east-1.aws.byoc.example.com';
const work = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-connect-'));
const { ca } = await createCa(new Date());
const keys = await generateKeyPairPem();
const cert = issueServerCertificate(ca, { publicKeyPem: keys.publicKeyPem, names: [CH, K8S], notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) });
const server = https.createServer({ cert, key: keys.privateKeyPem }, (_request, response) => response.end('ok'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
try {
  writeFileSync(path.join(work, 'ca.pem'), ca.certPem);
  writeFileSync(
    path.join(work, 'byoc.config.yaml'),
    `network:\n  resolve: { ${CH}: 127.0.0.1, ${K8S}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH}:${port}", caFile: ./ca.pem }\n    kubernetes: { server: "https://${K8S}:${port}", caFile: ./ca.pem }\n`,
  );
  writeFileSync(
    path.join(work, 'scenario.json'),
    JSON.stringify({
      commands: [
        { match: '^status --json$', stdoutFile: path.join(fixtures, 'status-direct.json') },
        { match: '^netcheck', stdoutFile: path.join(fixtures, 'netcheck-good.json'), delayMs: 150 },
        { match: '^ping .*100\\.101\\.23\\.45$', stdout: 'pong from ch (100.101.23.45) via 198.51.100.31:41641 in 2ms\n', delayMs: 400 },
        { match: '^ping .*100\\.88\\.12\\.34$', stdout: 'pong from k8s (100.88.12.34) via 198.51.100.24:41641 in 3ms\n', delayMs: 700 },
      ],
    }),
  );
  const env = { PATH: `${fakeDir}:${process.env.PATH}`, HOME: work, FAKE_TAILSCALE_SCENARIO: path.join(work, 'scenario.json'), FAKE_TAILSCALE_NODE: process.execPath };
  // Async spawn: the TLS servers live in this process and must keep answering while byoc runs.
  const time = (target) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, [BYOC, 'connect', 'check', 'acme-prod', '--target', target, '--count', '1', '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('exit', (code) => {
        const elapsed = performance.now() - started;
        if (code !== 0) return reject(new Error(`connect check ${target} exited ${code}: ${output}`));
        const report = JSON.parse(output);
        if (report.targets.some((entry) => !entry.tls.ok)) return reject(new Error(`TLS failed: ${output}`));
        resolve(elapsed);
      });
    });
  const samples = { clickhouse: [], kubernetes: [], all: [] };
  const runs = runsFromEnv(7);
  for (let i = 0; i < runs; i++) for (const target of ['clickhouse', 'kubernetes', 'all']) samples[target].push(await time(target));
  // The baseline is the slower single endpoint's samples (the one a concurrent check cannot beat).
  const slowest = median(samples.clickhouse) >= median(samples.kubernetes) ? samples.clickhouse : samples.kubernetes;
  report(`connect check (median of ${runs} interleaved runs)`, [
    compare('two endpoints vs slowest single', samples.all, slowest, { baselineName: 'slowest single endpoint', budget: 1.2 }),
  ]);
} finally {
  server.close();
  rmSync(work, { recursive: true, force: true });
}
