import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert, type TestCa } from '../fakes/certs.js';
import { tempDir } from '../fakes/fs.js';
import { startHttpsServer, type FakeHttpsServer } from '../fakes/https-server.js';
import { fakeTailscaleEnv, TAILSCALE_SCENARIOS } from '../fakes/tailscale/index.js';
import { byoc } from './helpers.js';

const CH_HOST = 'ch.abc123.us-east-1.aws.byoc.example.com';
const K8S_HOST = 'k8s.abc123.us-east-1.aws.byoc.example.com';
let ca: TestCa;
let server: FakeHttpsServer;
beforeAll(async () => {
  ca = makeCa();
  server = await startHttpsServer(makeServerCert(ca, [CH_HOST, K8S_HOST]));
});
afterAll(() => server.close());

function workspace() {
  const cwd = tempDir({ 'ca.pem': ca.certPem });
  writeFileSync(
    path.join(cwd, 'byoc.config.yaml'),
    `network:\n  resolve: { ${CH_HOST}: 127.0.0.1, ${K8S_HOST}: 127.0.0.1 }\nservices:\n  acme-prod:\n    clickhouse: { url: "https://${CH_HOST}:${server.port}", caFile: ./ca.pem }\n    kubernetes: { server: "https://${K8S_HOST}:${server.port}", caFile: ./ca.pem }\n`,
  );
  return cwd;
}

describe('byoc connect check through a fake `tailscale` on PATH', () => {
  it.each([
    ['direct', [], 0, 'direct'],
    ['derp', [], 0, 'relayed'],
    ['derp', ['--require-direct'], 6, 'relayed'],
    ['stopped', [], 6, 'tailscale-down'],
    ['needs-login', [], 6, 'tailscale-down'],
    ['daemon-not-running', [], 6, 'tailscale-down'],
    ['offline', [], 6, 'unreachable'],
  ])('scenario %s %j exits %i with verdict %s', async (scenario, flags, code, verdict) => {
    const result = await byoc(['connect', 'check', 'acme-prod', '--json', '--count', '1', ...flags], {
      cwd: workspace(),
      env: fakeTailscaleEnv(path.join(TAILSCALE_SCENARIOS, `${scenario}.json`)),
    });
    expect(JSON.parse(result.stdout).verdict).toBe(verdict);
    expect(result.exitCode).toBe(code);
  });

  it('names the tailscale binary to install when it is missing', async () => {
    // No LocalAPI either (a developer's own tailscaled must not answer instead of the missing CLI).
    const result = await byoc(['connect', 'check', 'acme-prod'], { cwd: workspace(), env: { PATH: '/nonexistent', BYOC_TAILSCALE_SOCKET: '/nonexistent/tailscaled.sock' } });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain('BYOC_TAILSCALE_BIN');
    expect(result.stdout.split('\n')[0]).toBe('verdict\ttailscale-down');
  });
});
