#!/usr/bin/env node
// The floor for a Node.js CLI query: one https.request with the engineer's certificate, its response piped to
// stdout, nothing else (no configuration, no broker, no guard). What `byoc query` is compared with.
// Usage: node-request.js URL (env: BENCH_CA, BENCH_CERT, BENCH_KEY, BENCH_RESOLVE=host:ip).
import { readFileSync } from 'node:fs';
import https from 'node:https';

const url = new URL(process.argv[2]);
const [host, address] = (process.env.BENCH_RESOLVE ?? '').split(':');
const request = https.request(url, {
  ca: readFileSync(process.env.BENCH_CA),
  cert: readFileSync(process.env.BENCH_CERT),
  key: readFileSync(process.env.BENCH_KEY),
  // the certificate names the host; the connection goes to the address it resolves to here, as curl --resolve does
  lookup: (hostname, options, callback) =>
    hostname === host ? (options.all ? callback(null, [{ address, family: 4 }]) : callback(null, address, 4)) : callback(new Error(`no address for ${hostname}`)),
});
request.on('response', (response) => {
  if (response.statusCode !== 200) {
    process.stderr.write(`HTTP ${response.statusCode}\n`);
    process.exitCode = 1;
  }
  response.pipe(process.stdout);
});
request.on('error', (error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
request.end();
