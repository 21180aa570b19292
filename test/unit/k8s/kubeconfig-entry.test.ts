import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { currentContextOf, planKubeconfigEntry, type EntryInput } from '../../../src/k8s/kubeconfig-entry.js';

const base: EntryInput = {
  service: 'acme-prod',
  contextName: 'byoc-acme-prod',
  server: 'https://k8s.acme.example:6443',
  resolve: {},
  self: { node: '/usr/local/bin/node', script: '/opt/byoc/bin/byoc.js' },
  env: [{ name: 'BYOC_STATE_DIR', value: '/home/alice/.local/state/byoc' }],
};

describe('planKubeconfigEntry', () => {
  it('writes the server as configured when no override applies, with the exec plugin by absolute path', () => {
    const { entry, server, notes } = planKubeconfigEntry(base);
    expect(server).toBe('https://k8s.acme.example:6443');
    expect(notes).toEqual([]);
    expect(entry.cluster).toEqual({ server: 'https://k8s.acme.example:6443' });
    expect(entry.user.exec).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: '/usr/local/bin/node',
      args: ['/opt/byoc/bin/byoc.js', 'kube-credential', 'acme-prod'],
      env: [{ name: 'BYOC_STATE_DIR', value: '/home/alice/.local/state/byoc' }],
      interactiveMode: 'Never',
    });
  });

  it('writes an overridden host as its address and keeps the name for TLS (case and trailing dot ignored)', () => {
    const v4 = planKubeconfigEntry({ ...base, resolve: { 'K8S.acme.example.': '100.64.0.7' } });
    expect(v4.entry.cluster).toMatchObject({ server: 'https://100.64.0.7:6443', tlsServerName: 'k8s.acme.example' });
    expect(v4.notes[0]).toContain('tls-server-name');
    const v6 = planKubeconfigEntry({ ...base, server: 'https://k8s.acme.example/prefix', resolve: { 'k8s.acme.example': 'fd7a:115c:a1e0::7' } });
    expect(v6.server).toBe('https://[fd7a:115c:a1e0::7]/prefix');
    // A configured tlsServerName (the name in nginx's certificate) wins over the URL's host
    const named = planKubeconfigEntry({ ...base, tlsServerName: 'kubernetes', resolve: { 'k8s.acme.example': '100.64.0.7' } });
    expect(named.entry.cluster.tlsServerName).toBe('kubernetes');
  });

  it('writes proxy-url, socks5h as socks5 (the only SOCKS scheme kubectl accepts), credentials kept', () => {
    expect(planKubeconfigEntry({ ...base, proxy: 'http://127.0.0.1:1055' }).entry.cluster.proxyUrl).toBe('http://127.0.0.1:1055');
    const socks = planKubeconfigEntry({ ...base, proxy: 'socks5h://user:pw@127.0.0.1:1055' });
    expect(socks.entry.cluster.proxyUrl).toBe('socks5://user:pw@127.0.0.1:1055');
    expect(socks.notes).toEqual([expect.stringContaining('socks5h')]);
  });

  it('embeds the CA as base64 data', () => {
    const { entry } = planKubeconfigEntry({ ...base, caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
    expect(Buffer.from(entry.cluster.certificateAuthorityData!, 'base64').toString()).toContain('BEGIN CERTIFICATE');
  });
});

describe('currentContextOf', () => {
  it('reads current-context, and nothing from empty, unnamed or unreadable text', () => {
    expect(currentContextOf('current-context: prod\n', parse)).toBe('prod');
    expect(currentContextOf('current-context: ""\n', parse)).toBeUndefined();
    expect(currentContextOf(undefined, parse)).toBeUndefined();
    expect(currentContextOf('{ not yaml', parse)).toBeUndefined();
  });
});
