#!/usr/bin/env node
// Broker benchmarks, each next to a baseline measured in the same run:
//  1. key + CSR + signature latency (p50, target <= 50 ms) vs `openssl req` + `openssl x509 -req` (same curve);
//  2. full request > approve > certificate lifecycles per second on the served broker vs the same three HTTP
//     round trips against a bare node server, in interleaved rounds (target >= 0.5x bare);
//  3. store restart with 100k events (target < 1 s) vs reading and JSON-parsing the same file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { compare, percentile, report, runsFromEnv } from './lib.js';

const dist = new URL('../dist/src/', import.meta.url);
const { generateKeyPairPem, createCsr } = await import(new URL('pki/x509.js', dist));
const { createCa, issueClientCertificate } = await import(new URL('pki/ca.js', dist));
const { AccessBroker } = await import(new URL('access/broker.js', dist));
const { servicesFromConfig } = await import(new URL('access/policy.js', dist));
const { writeEventLog } = await import(new URL('access/store.js', dist));
const { processLockOwner } = await import(new URL('access/open.js', dist));
const { createBrokerServer, listen } = await import(new URL('access/server.js', dist));
const { HttpBrokerClient } = await import(new URL('access/http-client.js', dist));

// Dirty pages left by the bench before (the audit's million rows) would make every fdatasync here wait for them.
execFileSync('sync');
const work = mkdtempSync(path.join(os.tmpdir(), 'byoc-bench-broker-'));
const measures = [];
try {
  // 1. key + CSR + signing
  const { ca, keyPem } = await createCa(new Date());
  const caDir = path.join(work, 'ca');
  execFileSync('mkdir', ['-p', caDir]);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path.join(caDir, 'ca.crt'), ca.certPem);
  writeFileSync(path.join(caDir, 'ca.key'), keyPem);
  const runs = runsFromEnv(31);
  const byoc = [];
  const openssl = [];
  for (let i = 0; i < runs; i++) {
    let started = performance.now();
    const keys = await generateKeyPairPem();
    const csr = createCsr(keys, [{ name: 'commonName', value: 'alice@vendor.example' }]);
    issueClientCertificate(ca, { csrPem: csr, identity: 'alice@vendor.example', requestId: 'r-bench', notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) });
    byoc.push(performance.now() - started);

    started = performance.now();
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=alice@vendor.example', '-keyout', path.join(work, 'k.pem'), '-out', path.join(work, 'csr.pem')], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', path.join(work, 'csr.pem'), '-CA', path.join(caDir, 'ca.crt'), '-CAkey', path.join(caDir, 'ca.key'), '-CAcreateserial', '-days', '1', '-out', path.join(work, 'cert.pem')], { stdio: 'ignore' });
    openssl.push(performance.now() - started);
  }
  const keyP50 = percentile(byoc, 50);
  const opensslP50 = percentile(openssl, 50);
  measures.push({ name: 'key + CSR + sign p50', byoc: keyP50, baseline: opensslP50, baselineName: 'openssl req + x509 -req', unit: 'ms', ratio: keyP50 / opensslP50, target: '<= 50 ms', ok: keyP50 <= 50 });

  // 2. lifecycles per second on the served broker
  const stateDir = path.join(work, 'served');
  const broker = await AccessBroker.open(stateDir, {
    services: servicesFromConfig({ policy: { approvers: ['bob@vendor.example'] }, services: { 'acme-prod': {} } }),
    now: () => new Date(),
    ca: async () => ca,
    // as `byoc broker serve` opens it: the store lock held for the whole run
    store: { warn: () => undefined, owner: processLockOwner(), hold: true },
  });
  const server = createBrokerServer(broker);
  const address = await listen(server, '127.0.0.1', 0);
  const url = `http://127.0.0.1:${address.port}`;
  const alice = new HttpBrokerClient({ url, token: await broker.createToken('alice@vendor.example') });
  const bob = new HttpBrokerClient({ url, token: await broker.createToken('bob@vendor.example') });
  const lifecycles = Number(process.env.BENCH_LIFECYCLES ?? 500);
  const concurrency = 16;
  const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: 'alice@vendor.example' }]);
  const runLifecycles = async (one) => {
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < lifecycles) {
        next++;
        await one();
      }
    }));
    return lifecycles / (Number(process.hrtime.bigint() - started) / 1e9);
  };
  const brokerLifecycle = async () => {
    const request = await alice.create({ service: 'acme-prod', reason: 'bench', duration: '1h' });
    await bob.approve(request.id);
    await alice.issueCertificate(request.id, csr);
  };

  const bare = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"r-x","identity":"x"}'));
  });
  await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${bare.address().port}`;
  const { request: httpRequest } = await import('node:http');
  // the same client machinery as the broker client (node:http, default keep-alive agent)
  const post = (body) => new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${bareUrl}/`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    });
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
  const bareLifecycle = async () => {
    await post({ service: 'acme-prod' });
    await post({});
    await post({ csr });
  };
  // warm-up (the CA's first use, JIT): a cold round runs at half the speed of a warm one
  for (let i = 0; i < 3; i++) {
    await runLifecycles(brokerLifecycle);
    await runLifecycles(bareLifecycle);
  }
  const rounds = runsFromEnv(7);
  const brokerRates = [];
  const bareRates = [];
  for (let i = 0; i < rounds; i++) {
    brokerRates.push(await runLifecycles(brokerLifecycle));
    bareRates.push(await runLifecycles(bareLifecycle));
  }
  await new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  await broker.close();
  await new Promise((resolve) => { bare.closeAllConnections(); bare.close(resolve); });
  measures.push(compare(`lifecycles per second (served; ${rounds} rounds of ${lifecycles}, ${concurrency} at once)`, brokerRates, bareRates, { baselineName: 'bare HTTP, 3 round trips', unit: '/s', budget: 0.5, atLeast: true }));

  // 3. restart with 100k events
  const restartDir = path.join(work, 'restart');
  const events = [];
  const at = new Date().toISOString();
  for (let i = 0; events.length < 100_000; i++) {
    const id = `r-${String(i).padStart(10, '0')}`;
    events.push({ type: 'request.created', at, id, service: 'acme-prod', scopes: ['clickhouse'], requester: 'alice@vendor.example', reason: `incident ${i}`, duration: '1h', durationMs: 3_600_000, approvalsRequired: 1, pendingUntil: at });
    events.push({ type: 'request.reviewed', at, id, reviewer: 'bob@vendor.example', decision: 'approve' });
  }
  await writeEventLog(path.join(restartDir, 'broker'), events);
  const file = path.join(restartDir, 'broker', 'events.jsonl');
  const snapshot = path.join(restartDir, 'broker', 'events.snapshot.json');
  const open = () => AccessBroker.open(restartDir, { services: servicesFromConfig({}), now: () => new Date(), ca: async () => ca, store: { warn: () => undefined, owner: processLockOwner() } });
  const restarts = [];
  const resumes = [];
  const parses = [];
  for (let i = 0; i < runsFromEnv(7); i++) {
    // a full replay: no snapshot beside the log (the open writes one, which the next measure resumes from)
    rmSync(snapshot, { force: true });
    let started = performance.now();
    const reopened = await open();
    restarts.push(performance.now() - started);
    if (reopened.requestCount !== 50_000) throw new Error(`restart rebuilt ${reopened.requestCount} requests`);
    started = performance.now();
    const resumed = await open();
    resumes.push(performance.now() - started);
    if (resumed.requestCount !== 50_000) throw new Error(`resume counted ${resumed.requestCount} requests`);
    started = performance.now();
    let count = 0;
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line) { JSON.parse(line); count++; }
    parses.push(performance.now() - started);
    if (count !== 100_000) throw new Error('baseline parse miscounted');
  }
  const restart = percentile(restarts, 50);
  measures.push({ ...compare('store restart, 100k events, full replay', restarts, parses, { baselineName: 'read + JSON.parse lines' }), target: '< 1000 ms', ok: restart < 1000 });
  measures.push(compare('store open, 100k events, from its snapshot', resumes, parses, { baselineName: 'read + JSON.parse lines' }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
report('broker', measures);
