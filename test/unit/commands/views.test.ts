import path from 'node:path';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '../../../commands/index.js';
import { PRESETS } from '../../../src/clickhouse/presets.js';
import { EXIT_CODES } from '../../../src/errors.js';
import { runCli } from '../../fakes/context.js';
import { testBrokerCa } from '../../fakes/broker.js';
import { startFakeKubeApi, type FakeKubeApi } from '../../fakes/k8s-api-server.js';
import { k8sWorkspace } from './k8s/workspace.js';

/**
 * Commands whose plain text is already what a person should see on a terminal (one sentence), or is meant for a
 * file or another program whatever stdout is. Every other command needs a TTY view.
 */
const TEXT_IS_THE_VIEW: Record<string, string> = {
  'config/validate': 'one sentence',
  'cert/rm': 'one sentence',
  'cert/env': 'shell exports, curl flags or a clickhouse-client config, for other programs (one sentence with --out)',
  'broker/serve': 'one sentence when it stops; it logs on stderr while serving',
  'proxy/clickhouse': 'the URL to copy and a curl line, then one line per statement on stderr while serving',
  'broker/crl': 'PEM for a file, or one sentence with --out',
  'broker/migrate': 'one or two sentences: the schema version, and what was copied',
  'broker/trust': 'one sentence',
  login: 'one sentence (the sign-in steps go to stderr)',
  'audit/keygen': 'the public key (PEM), to publish as it is',
  'audit/report': 'what was written and the hashes, as sha256sum prints them',
  'audit/verify': 'the verdict and the files checked, as sha256sum -c prints them',
  logout: 'one sentence',
  'broker/token/create': 'the token alone, to be copied once',
  'broker/token/revoke': 'one sentence',
  'access/operator-config': 'SQL or XML for the customer to apply',
  'kube-credential': "kubectl's ExecCredential JSON",
  completion: 'a shell script',
  'completion-candidates': 'lines for the shell completion scripts',
};

const collapse = (text: string) => text.replace(/\s+/g, ' ');

describe('every command has a TTY view', () => {
  it('has a view, or its text is meant as it is (listed with the reason)', async () => {
    for (const entry of manifest) {
      const command = await entry.load();
      if (TEXT_IS_THE_VIEW[entry.file]) expect(command.view, `${entry.file} is listed as text-only but has a view`).toBeUndefined();
      else expect(command.view, `${entry.file} prints raw text on a terminal`).toBeTypeOf('function');
    }
  });
});

describe('byoc query presets', () => {
  it('shows a table on a TTY and keeps tab-separated lines on a pipe', async () => {
    // Given a terminal, When presets are listed, Then names and whole descriptions appear in aligned rows, no tabs
    const tty = await runCli(['query', 'presets'], { stdoutTTY: true });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).not.toContain('\t');
    expect(tty.stdout).toMatch(/^PRESET\s+WHAT IT SHOWS/m);
    for (const preset of PRESETS) {
      expect(tty.stdout).toContain(preset.name);
      expect(collapse(tty.stdout)).toContain(collapse(preset.description));
    }
    expect(tty.stdout).toContain('byoc query SERVICE --preset');
    // When piped, Then the output is unchanged: name TAB description per line
    const piped = await runCli(['query', 'presets']);
    expect(piped.stdout).toBe(`${PRESETS.map((preset) => `${preset.name}\t${preset.description}`).join('\n')}\n`);
  });
});

describe('byoc help exit-codes', () => {
  it('wraps meanings to the terminal instead of cutting them', async () => {
    const { stdout, exitCode } = await runCli(['help', 'exit-codes'], { stdoutTTY: true });
    expect(exitCode).toBe(0);
    expect(stdout).not.toContain('…');
    for (const { code, name, meaning } of EXIT_CODES) {
      expect(stdout).toMatch(new RegExp(`^${code}\\s+${name}\\s`, 'm'));
      expect(collapse(stdout)).toContain(collapse(meaning));
    }
    for (const line of stdout.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(100);
  });

  it('wraps within a narrow terminal too', async () => {
    const { ExitCodesView } = await import('../../../src/ui/views/exit-codes.js');
    const { renderToString } = await import('ink');
    const text = renderToString(ExitCodesView({ rows: EXIT_CODES, color: false, columns: 50 }), { columns: 50 });
    expect(text).not.toContain('…');
    for (const line of text.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(50);
    for (const { meaning } of EXIT_CODES) expect(collapse(text)).toContain(collapse(meaning));
  });
});

describe('byoc query --check', () => {
  it('says allowed or refused in words on a TTY, and keeps the tab-separated line on a pipe', async () => {
    const allowed = await runCli(['query', '--check', 'SELECT * FROM system.merges'], { stdoutTTY: true });
    expect(allowed.stdout).toMatch(/^✓ allowed /);
    expect(allowed.stdout).toContain('tables: system.merges');
    const refused = await runCli(['query', '--check', 'SELECT * FROM default.orders'], { stdoutTTY: true });
    expect(refused.exitCode).toBe(4);
    expect(refused.stdout).toMatch(/^✗ refused /);
    const piped = await runCli(['query', '--check', 'SELECT * FROM system.merges']);
    expect(piped.stdout).toMatch(/^allowed\t/);
  });
});

describe('byoc connect k8s', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await startFakeKubeApi({ scenario: 'healthy', ca: await testBrokerCa() });
  });
  afterAll(() => api.close());

  it('shows what it wrote and what the server said on a TTY; piped output stays tab-separated', async () => {
    // Given approved access and no kubeconfig yet
    const { setup, cwd } = await k8sWorkspace(api);
    // When connect k8s runs on a terminal
    const tty = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', 'kube/config'], { ...setup, stdoutTTY: true });
    // Then a view, not TSV: the context, the file, the server and who the server sees
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).not.toContain('\t');
    expect(tty.stdout).toMatch(/^byoc-acme-prod for acme-prod verified/m);
    expect(tty.stdout).toMatch(new RegExp(`kubeconfig\\s+${path.join(cwd, 'kube', 'config').replace(/[/.]/g, '\\$&')} written`));
    expect(tty.stdout).toMatch(/context\s+now current/);
    expect(tty.stdout).toMatch(/server\s+https:\/\/.+ \(Kubernetes v/);
    expect(tty.stdout).toMatch(/you are\s+\S+/);
    expect(tty.stdout).toMatch(/certificate\s+\S+ left \(until \d{4}-/);
    // When piped, Then the rows stay tab-separated
    const piped = await runCli(['connect', 'k8s', 'acme-prod', '--kubeconfig', 'kube/config'], setup);
    expect(piped.stdout).toMatch(/^kubeconfig\t.+\tunchanged\t$/m);
    // And --print stays the kubeconfig YAML on a terminal
    const printed = await runCli(['connect', 'k8s', 'acme-prod', '--print'], { ...setup, stdoutTTY: true });
    expect(printed.stdout).toMatch(/^apiVersion: v1$/m);
  });
});
