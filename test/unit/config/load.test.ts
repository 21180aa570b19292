import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration } from '../../../src/config/configuration.js';
import { loadConfigFile, validated as validateWith } from '../../../src/config/load.js';
import * as schemaModule from '../../../src/config/schema.js';

const validated = (file: string, raw: unknown) => validateWith(file, raw, schemaModule);
import { ConfigError } from '../../../src/errors.js';
import { tempDir } from '../../fakes/fs.js';

const VALID_YAML = `
user: alice@vendor.example
broker: { url: https://access.example.com }
network:
  proxy: socks5://127.0.0.1:1055
  resolve: { ch.abc123.us-east-1.aws.byoc.example.com: 100.64.0.7 }
services:
  acme-prod:
    clickhouse: { url: "https://ch.abc123.us-east-1.aws.byoc.example.com:8443" }
    kubernetes: { server: "https://k8s.abc123.us-east-1.aws.byoc.example.com", caFile: ./k8s-ca.pem, tlsServerName: kubernetes }
policy:
  approvers: [bob@vendor.example, carol@vendor.example]
  approvals: 1
  maxDuration: 8h
  pendingTtl: 1h
tailscale: { bin: /usr/bin/tailscale }
`;

describe('configuration discovery', () => {
  it.each([
    ['byoc.config.yaml', 'user: a@x\n'],
    ['byoc.config.yml', 'user: a@x\n'],
    ['byoc.config.json', '{"user":"a@x"}'],
    ['.byocrc', 'user: a@x\n'],
    ['.byocrc.json', '{"user":"a@x"}'],
    ['byoc.config.mjs', 'export default { user: "a@x" };'],
    ['package.json', '{"name":"p","byoc":{"user":"a@x"}}'],
  ])('finds %s in the working folder', async (name, content) => {
    const dir = tempDir({ [name]: content });
    const found = await loadConfigFile({ cwd: dir, env: {} });
    expect(found.path).toBe(path.join(dir, name));
    expect(found.data.user).toBe('a@x');
  });

  it('searches parent folders up to the project root', async () => {
    const dir = tempDir({ 'byoc.config.yaml': 'user: parent@x\n', 'sub/deeper/.keep': '' });
    const found = await loadConfigFile({ cwd: path.join(dir, 'sub', 'deeper'), env: {} });
    expect(found.data.user).toBe('parent@x');
  });

  it('falls back to $XDG_CONFIG_HOME/byoc/config.yaml', async () => {
    const xdg = tempDir({ 'byoc/config.yaml': 'user: xdg@x\n' });
    const found = await loadConfigFile({ cwd: tempDir(), env: { XDG_CONFIG_HOME: xdg } });
    expect(found.path).toBe(path.join(xdg, 'byoc', 'config.yaml'));
    expect(found.data.user).toBe('xdg@x');
  });

  it('falls back to ~/.config/byoc/config.yaml without XDG_CONFIG_HOME', async () => {
    const home = tempDir({ '.config/byoc/config.yaml': 'user: home@x\n' });
    const found = await loadConfigFile({ cwd: tempDir(), env: { HOME: home } });
    expect(found.data.user).toBe('home@x');
  });

  it('prefers a project file over the user file', async () => {
    const xdg = tempDir({ 'byoc/config.yaml': 'user: xdg@x\n' });
    const project = tempDir({ '.byocrc.yaml': 'user: project@x\n' });
    expect((await loadConfigFile({ cwd: project, env: { XDG_CONFIG_HOME: xdg } })).data.user).toBe('project@x');
  });

  it('uses an explicit file without searching, and fails (exit 3) when it is missing', async () => {
    const dir = tempDir({ 'byoc.config.yaml': 'user: searched@x\n', 'other.yaml': 'user: explicit@x\n' });
    expect((await loadConfigFile({ cwd: dir, env: {}, explicitFile: 'other.yaml' })).data.user).toBe('explicit@x');
    const missing = loadConfigFile({ cwd: dir, env: {}, explicitFile: 'missing.yaml' });
    await expect(missing).rejects.toMatchObject({ code: 'config_not_found', exitCode: 3 });
  });

  it('returns an empty configuration when there is no file', async () => {
    expect(await loadConfigFile({ cwd: tempDir(), env: {} })).toEqual({ path: undefined, data: {} });
  });

  it('treats an empty file as empty configuration', async () => {
    const dir = tempDir({ 'byoc.config.yaml': '' });
    expect((await loadConfigFile({ cwd: dir, env: {} })).data).toEqual({});
  });

  it('reports a YAML syntax error as configuration (exit 3) naming the file', async () => {
    const dir = tempDir({ 'byoc.config.yaml': 'user: [unclosed\n' });
    const attempt = loadConfigFile({ cwd: dir, env: {} });
    await expect(attempt).rejects.toMatchObject({ code: 'config_unreadable', exitCode: 3 });
    await expect(attempt).rejects.toThrow(path.join(dir, 'byoc.config.yaml'));
  });
});

describe('configuration validation', () => {
  it('accepts the full documented example', () => {
    const { data } = validated('/x/byoc.config.yaml', (awaitYaml(VALID_YAML)));
    expect(data.services?.['acme-prod']?.kubernetes?.tlsServerName).toBe('kubernetes');
  });

  const problem = (raw: unknown): string => {
    try {
      validated('/etc/byoc.yaml', raw);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a validation error');
  };

  it('names the file and the key path of an unknown key, with a suggestion', () => {
    const message = problem({ services: { acme: { clickhouse: { urll: 'https://x' } } } });
    expect(message).toContain('invalid configuration in /etc/byoc.yaml');
    expect(message).toContain('services.acme.clickhouse.urll: unknown key (did you mean "url"?); expected one of: url');
  });

  it('rejects an unknown top-level key', () => {
    expect(problem({ brokers: {} })).toContain('brokers: unknown key (did you mean "broker"?)');
  });

  it('says what was expected for a wrong type', () => {
    expect(problem({ policy: { approvals: 'two' } })).toMatch(/policy\.approvals: .*expected number/);
  });

  it('rejects a bad duration, proxy scheme, resolve address and service name', () => {
    expect(problem({ policy: { maxDuration: 'forever' } })).toContain('policy.maxDuration: expected a duration');
    expect(problem({ network: { proxy: 'ftp://x' } })).toContain('network.proxy: expected a proxy URL');
    expect(problem({ network: { resolve: { 'ch.x': 'not-an-ip' } } })).toContain('network.resolve.ch.x: expected an IPv4 or IPv6 address');
    expect(problem({ services: { 'Acme Prod': {} } })).toContain('expected a service name');
  });

  it('lists every problem, not only the first', () => {
    const message = problem({ user: '', tailscale: { binary: 'x' } });
    expect(message).toContain('user:');
    expect(message).toContain('tailscale.binary: unknown key');
  });
});

describe('Configuration.resolve', () => {
  const file = { path: '/etc/byoc.yaml', data: { user: 'file@x', policy: { approvals: 2 } } };

  it('records the source and origin of every value', () => {
    const configuration = new Configuration(file, { BYOC_BROKER_URL: 'https://broker.example' }, new Map([['output.json', { value: true, flag: '--json' }]]));
    expect(configuration.resolve('output.json')).toEqual({ key: 'output.json', value: true, source: 'flag', origin: '--json' });
    expect(configuration.resolve('broker.url')).toEqual({ key: 'broker.url', value: 'https://broker.example', source: 'env', origin: 'BYOC_BROKER_URL' });
    expect(configuration.resolve('user')).toEqual({ key: 'user', value: 'file@x', source: 'file', origin: '/etc/byoc.yaml' });
    expect(configuration.resolve('policy.pendingTtl')).toEqual({ key: 'policy.pendingTtl', value: '1h', source: 'default' });
    expect(configuration.resolve('network.proxy')).toEqual({ key: 'network.proxy', value: undefined, source: undefined });
  });

  it('treats an empty environment variable as unset', () => {
    expect(new Configuration(file, { BYOC_USER: '' }).resolve('user').source).toBe('file');
  });

  it('names configured services when one is unknown (exit 3)', () => {
    const configuration = new Configuration({ path: '/c', data: { services: { 'acme-prod': {} } } }, {});
    expect(() => configuration.service('acme-prd')).toThrow(expect.objectContaining({ code: 'service_unknown', hint: expect.stringContaining('Did you mean "acme-prod"?') }));
  });
});

function awaitYaml(text: string): unknown {
  // The YAML library is what cosmiconfig uses too; parsing here keeps the test on validation alone.
  return JSON.parse(JSON.stringify(yamlParse(text)));
}
import { parse as yamlParse } from 'yaml';
