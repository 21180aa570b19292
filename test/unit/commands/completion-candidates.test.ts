import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUSES } from '../../../src/access/types.js';
import { PRESETS } from '../../../src/clickhouse/presets.js';
import { FakeClock, runCli } from '../../fakes/context.js';
import { openTestBroker } from '../../fakes/broker.js';
import { tempDir } from '../../fakes/fs.js';

const CONFIG = `services:
  acme-prod:
    clickhouse: { url: "https://ch.acme.example:8443" }
  globex-staging:
    clickhouse: { url: "https://ch.globex.example:8443" }
policy:
  approvers: [bob@vendor.example]
`;

/** A workspace with two configured services, a registered one (the sandbox), and an embedded broker state. */
function workspace() {
  const cwd = tempDir({ 'byoc.config.yaml': CONFIG });
  const stateDir = path.join(cwd, 'state');
  mkdirSync(stateDir);
  writeFileSync(path.join(stateDir, 'services.json'), JSON.stringify({ sandbox: { clickhouse: { url: 'https://127.0.0.1:8443' } } }));
  const ask = async (words: string[], user = 'alice@vendor.example', extraEnv: Record<string, string> = {}) => {
    const result = await runCli(['completion-candidates', '--', ...words], { cwd, env: { BYOC_STATE_DIR: stateDir, BYOC_USER: user, ...extraEnv } });
    expect(result.exitCode).toBe(0);
    return { lines: result.stdout.split('\n').filter(Boolean), stderr: result.stderr };
  };
  const values = async (words: string[], user?: string) => (await ask(words, user)).lines.map((line) => line.split('\t')[0]!);
  return { cwd, stateDir, ask, values };
}

describe('completion candidates: commands and flags', () => {
  it('offers the visible commands with their descriptions, never hidden ones', async () => {
    const { ask } = workspace();
    const { lines } = await ask(['']);
    expect(lines).toContain('access\tRequest, review and revoke time-bound access');
    expect(lines.map((line) => line.split('\t')[0])).not.toContain('completion-candidates');
    expect(lines.map((line) => line.split('\t')[0])).not.toContain('kube-credential');
  });

  it('offers subcommands matching the typed prefix', async () => {
    const { values } = workspace();
    expect(await values(['access', 'r'])).toEqual(['request', 'revoke']);
    expect(await values(['broker', 'token', ''])).toEqual(['create', 'list', 'revoke']);
  });

  it("offers each command's own flags only: cert list never gets access list's", async () => {
    const { values } = workspace();
    const certList = await values(['cert', 'list', '--']);
    expect(certList).toEqual(['--json', '--verbose', '--no-color', '--config', '--help']);
    const accessList = await values(['access', 'list', '--']);
    expect(accessList).toEqual(expect.arrayContaining(['--mine', '--reviewable', '--status', '--service', '--json']));
    expect(await values(['cert', 'get', 'acme-prod', '--'])).toContain('--renew');
    expect(await values(['cert', 'get', 'acme-prod', '--'])).not.toContain('--mine');
  });

  it('does not offer a flag again once given, and offers --version only at the top', async () => {
    const { values } = workspace();
    expect(await values(['access', 'list', '--mine', '--'])).not.toContain('--mine');
    expect((await values(['--v'])).sort()).toEqual(['--verbose', '--version']);
    expect(await values(['access', 'list', '--v'])).toEqual(['--verbose']);
  });

  it('walks past global flags and their values to find the command', async () => {
    const { values, cwd } = workspace();
    expect(await values(['--config', path.join(cwd, 'byoc.config.yaml'), 'access', 'list', '--m'])).toEqual(['--mine']);
  });

  it('help offers its topics and every command', async () => {
    const { values } = workspace();
    expect(await values(['help', ''])).toEqual(expect.arrayContaining(['exit-codes', 'access', 'query']));
    expect(await values(['help', 'access', 'wa'])).toEqual(['wait']);
  });
});

describe('completion candidates: values', () => {
  it('offers configured and registered services where a service goes', async () => {
    const { values } = workspace();
    expect(await values(['cert', 'get', ''])).toEqual(['acme-prod', 'globex-staging', 'sandbox']);
    expect(await values(['connect', 'check', 'a'])).toEqual(['acme-prod']);
    expect(await values(['access', 'list', '--service', 'g'])).toEqual(['globex-staging']);
    // `query` is a command and a group: its subcommand and the services
    expect(await values(['query', ''])).toEqual(['presets', 'acme-prod', 'globex-staging', 'sandbox']);
  });

  it('offers the choices of choice options and arguments', async () => {
    const { values } = workspace();
    expect(await values(['query', 'acme-prod', '--format', ''])).toEqual(['table', 'json', 'ndjson', 'csv', 'tsv']);
    expect(await values(['query', 'acme-prod', '--format', 'n'])).toEqual(['ndjson']);
    expect(await values(['query', 'acme-prod', '--format=j'])).toEqual(['--format=json']);
    expect(await values(['access', 'list', '--status', ''])).toEqual([...STATUSES]);
    expect(await values(['connect', 'check', 'acme-prod', '--target', ''])).toEqual(['clickhouse', 'kubernetes', 'all']);
    expect(await values(['k8s', 'diagnose', 'acme-prod', ''])).toEqual(['volumes', 'nodes', 'health', 'all']);
    expect(await values(['completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    // bash splits --format=json at '=': the value after it is still a format
    expect(await values(['query', 'acme-prod', '--format', '=', 'ts'])).toEqual(['tsv']);
    expect(await values(['query', 'acme-prod', '--format', '='])).toEqual([]);
  });

  it('offers preset names with what they show', async () => {
    const { ask } = workspace();
    const { lines } = await ask(['query', 'acme-prod', '--preset', '']);
    expect(lines).toEqual(PRESETS.map((preset) => `${preset.name}\t${preset.description}`));
  });

  it('asks the shell for file names where a file goes', async () => {
    const { values } = workspace();
    expect(await values(['query', 'acme-prod', '--file', ''])).toEqual([':files']);
    expect(await values(['config', 'validate', ''])).toEqual([':files']);
    expect(await values(['--config', 'b'])).toEqual([':files']);
    expect(await values(['connect', 'k8s', 'acme-prod', '--kubeconfig', '~/'])).toEqual([':files']);
    // A flag without a value, then a new word: no files
    expect(await values(['query', 'acme-prod', '--check', ''])).not.toContain(':files');
  });

  it('prints lines even when JSON output is asked for in the environment', async () => {
    const { ask } = workspace();
    const { lines } = await ask(['completion', ''], 'alice@vendor.example', { BYOC_JSON: 'true' });
    expect(lines).toEqual(['bash', 'zsh', 'fish']);
  });
});

describe('completion candidates: request ids', () => {
  it('offers the ids each user can act on, newest first, with status, service, requester and reason', async () => {
    // Given alice's pending request and carol's approved one, in the embedded broker
    const { stateDir, ask, values } = workspace();
    const clock = new FakeClock(new Date());
    const { broker } = await openTestBroker(stateDir, clock, { approvers: ['bob@vendor.example'] }, { 'acme-prod': {}, 'globex-staging': {} });
    const pending = await broker.create('alice@vendor.example', { service: 'acme-prod', reason: 'merges stuck', duration: '2h' });
    clock.advance(60_000);
    const approved = await broker.create('carol@vendor.example', { service: 'globex-staging', reason: 'disk full', duration: '1h' });
    await broker.approve('bob@vendor.example', approved.id);
    // When alice completes `access show`, Then she gets her own request, described
    expect((await ask(['access', 'show', ''])).lines).toEqual([`${pending.id}\tpending · acme-prod · alice@vendor.example · merges stuck`]);
    // When bob (the approver) completes approve, Then he gets what he can review; revoke offers approved requests
    expect(await values(['access', 'approve', ''], 'bob@vendor.example')).toEqual([pending.id]);
    expect(await values(['access', 'revoke', ''], 'bob@vendor.example')).toEqual([approved.id]);
    expect(await values(['access', 'show', ''], 'bob@vendor.example')).toEqual([pending.id]);
    // And alice, who reviews nothing, gets nothing to approve
    expect(await values(['access', 'approve', ''], 'alice@vendor.example')).toEqual([]);
    // And a prefix narrows them
    expect(await values(['access', 'show', pending.id.slice(0, 4)])).toEqual([pending.id]);
    expect(await values(['access', 'show', 'zz'])).toEqual([]);
  });

  it('creates no broker state where none exists', async () => {
    const { stateDir, values } = workspace();
    expect(await values(['access', 'show', ''])).toEqual([]);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(stateDir, 'broker'))).toBe(false);
  });

  it('offers nothing, silently and with exit 0, without an identity or with a broken configuration', async () => {
    const { cwd, stateDir } = workspace();
    const noUser = await runCli(['completion-candidates', '--', 'access', 'show', ''], { cwd, env: { BYOC_STATE_DIR: stateDir } });
    expect(noUser).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const broken = tempDir({ 'byoc.config.yaml': 'services: [not, a, map]\n' });
    const result = await runCli(['completion-candidates', '--', 'cert', 'get', ''], { cwd: broken, env: { BYOC_STATE_DIR: stateDir } });
    expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });
});

describe('completion candidates from a served broker that does not answer', () => {
  let server: Server;
  let port = 0;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers.
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up within its budget and prints nothing', async () => {
    const cwd = tempDir({ 'byoc.config.yaml': `broker: { url: "http://127.0.0.1:${port}" }\n${CONFIG}` });
    const started = Date.now();
    const result = await runCli(['completion-candidates', '--', 'access', 'show', ''], { cwd, env: { BYOC_STATE_DIR: tempDir(), BYOC_TOKEN: 'secret' } });
    expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(sockets.length).toBeGreaterThan(0);
  });
});
