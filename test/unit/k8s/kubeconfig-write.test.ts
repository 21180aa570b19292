import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, lstatSync, chmodSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  mergeKubeconfig,
  readKubeconfig,
  writeKubeconfigAtomically,
  type KubeconfigFs,
} from '../../../src/k8s/kubeconfig.js';
import { tempDir } from '../../fakes/fs.js';
import { ENTRY, EXISTING } from './kubeconfig-samples.js';

const clock = () => new Date('2025-06-01T12:00:00.123Z');
const mode = (file: string) => statSync(file).mode & 0o777;

describe('writeKubeconfigAtomically', () => {
  it('creates the parent folder (0700) and the file (0600) when neither exists', async () => {
    // Given a home without ~/.kube
    const home = tempDir();
    const file = path.join(home, '.kube', 'config');

    // When the kubeconfig is written
    const result = await writeKubeconfigAtomically(file, 'apiVersion: v1\n', { now: clock });

    // Then the folder and the file exist with private modes, and there is nothing to back up
    expect(result).toEqual({ path: file });
    expect(mode(path.dirname(file))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('apiVersion: v1\n');
  });

  it('keeps a 0600 backup of the previous file, named after the injected clock', async () => {
    // Given an existing kubeconfig readable by others
    const dir = tempDir({ 'config': EXISTING });
    const file = path.join(dir, 'config');
    chmodSync(file, 0o644);

    // When a merged version is written
    const merged = mergeKubeconfig(EXISTING, ENTRY, { switchContext: false }).text;
    const result = await writeKubeconfigAtomically(file, merged, { now: clock });

    // Then the previous content sits in a private backup and the new file is private too
    expect(result.backupPath).toBe(path.join(dir, 'config.byoc-backup-20250601T120000Z'));
    expect(readFileSync(result.backupPath!, 'utf8')).toBe(EXISTING);
    expect(mode(result.backupPath!)).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(merged);
    expect(mode(file)).toBe(0o600);
  });

  it('never overwrites an earlier backup taken at the same second', async () => {
    // Given two writes with the same clock
    const dir = tempDir({ config: 'one\n' });
    const file = path.join(dir, 'config');
    const first = await writeKubeconfigAtomically(file, 'two\n', { now: clock });

    // When a third version is written
    const second = await writeKubeconfigAtomically(file, 'three\n', { now: clock });

    // Then both backups exist with their own content
    expect(second.backupPath).toBe(`${first.backupPath}-1`);
    expect(readFileSync(first.backupPath!, 'utf8')).toBe('one\n');
    expect(readFileSync(second.backupPath!, 'utf8')).toBe('two\n');
  });

  it('skips the backup when asked', async () => {
    // Given an existing file
    const dir = tempDir({ config: 'old\n' });

    // When written with backup: false
    const result = await writeKubeconfigAtomically(path.join(dir, 'config'), 'new\n', { now: clock, backup: false });

    // Then no backup exists
    expect(result.backupPath).toBeUndefined();
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('leaves no temporary file behind after a successful write', async () => {
    // Given a folder with a kubeconfig
    const dir = tempDir({ config: 'old\n' });

    // When written
    await writeKubeconfigAtomically(path.join(dir, 'config'), 'new\n', { now: clock });

    // Then only the file and its backup are there
    expect(readdirSync(dir).sort()).toEqual(['config', 'config.byoc-backup-20250601T120000Z']);
  });

  it('keeps the old file intact and removes the temp file when the rename fails', async () => {
    // Given a file system whose rename fails (e.g. a read-only mount)
    const dir = tempDir({ config: 'old\n' });
    const failingRename: KubeconfigFs = {
      ...nodeFs,
      rename: async () => {
        throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
      },
    };

    // When the write is attempted
    const attempt = writeKubeconfigAtomically(path.join(dir, 'config'), 'new\n', { now: clock, fs: failingRename, backup: false });

    // Then the error surfaces, the old content is untouched and no temp file is left
    await expect(attempt).rejects.toThrow(/EROFS/);
    expect(readFileSync(path.join(dir, 'config'), 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('writes through a symlinked kubeconfig, keeping the link', async () => {
    // Given ~/.kube/config as a symlink into a dotfiles folder
    const root = tempDir({ 'dotfiles/kubeconfig': 'old\n' });
    mkdirSync(path.join(root, '.kube'));
    const link = path.join(root, '.kube', 'config');
    symlinkSync(path.join(root, 'dotfiles', 'kubeconfig'), link);

    // When written through the link
    const result = await writeKubeconfigAtomically(link, 'new\n', { now: clock });

    // Then the link still points at the target, which holds the new content, backed up next to it
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(result.path).toBe(path.join(root, 'dotfiles', 'kubeconfig'));
    expect(readFileSync(link, 'utf8')).toBe('new\n');
    expect(existsSync(path.join(root, 'dotfiles', 'kubeconfig.byoc-backup-20250601T120000Z'))).toBe(true);
  });
});

describe('readKubeconfig', () => {
  it('returns undefined for a missing file and the text of an existing one', async () => {
    // Given one existing and one missing file
    const dir = tempDir({ config: 'apiVersion: v1\n' });

    // Then the missing one reads as undefined
    expect(await readKubeconfig(path.join(dir, 'nope'))).toBeUndefined();
    expect(await readKubeconfig(path.join(dir, 'config'))).toBe('apiVersion: v1\n');
  });
});

const KUBECTL = '/usr/bin/kubectl';

describe.skipIf(!existsSync(KUBECTL))('kubectl reads the merged kubeconfig', () => {
  function kubectlView(file: string, home: string): Record<string, unknown> {
    const out = execFileSync(KUBECTL, ['config', 'view', '--kubeconfig', file, '-o', 'json'], {
      env: { PATH: '/usr/bin:/bin', HOME: home },
      encoding: 'utf8',
      timeout: 15_000,
    });
    return JSON.parse(out) as Record<string, unknown>;
  }

  it('shows the context, cluster and exec user next to the existing ones', async () => {
    // Given the sample kubeconfig merged with byoc's entry and written to disk
    const home = tempDir();
    const file = path.join(home, '.kube', 'config');
    const text = mergeKubeconfig(EXISTING, ENTRY, { switchContext: true }).text;
    await writeKubeconfigAtomically(file, text, { now: clock });

    // When kubectl reads it
    const view = kubectlView(file, home) as {
      'current-context': string;
      clusters: { name: string; cluster: Record<string, unknown> }[];
      contexts: { name: string; context: Record<string, unknown> }[];
      users: { name: string; user: { exec?: Record<string, unknown> } }[];
    };

    // Then it sees both contexts, byoc's cluster settings and the exec plugin
    expect(view['current-context']).toBe('byoc-acme-prod');
    expect(view.contexts.map((c) => c.name).sort()).toEqual(['byoc-acme-prod', 'prod']);
    expect(view.contexts.find((c) => c.name === 'byoc-acme-prod')!.context).toEqual({
      cluster: 'byoc-acme-prod',
      user: 'byoc-acme-prod-alice',
      namespace: 'clickhouse',
    });
    const cluster = view.clusters.find((c) => c.name === 'byoc-acme-prod')!.cluster;
    expect(cluster).toMatchObject({
      server: ENTRY.cluster.server,
      'tls-server-name': ENTRY.cluster.tlsServerName,
      'proxy-url': 'http://localhost:1055',
    });
    expect(view.users.find((u) => u.name === 'byoc-acme-prod-alice')!.user.exec).toMatchObject({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: '/usr/local/bin/byoc',
      args: ['kube-credential', 'acme-prod'],
      env: [{ name: 'BYOC_PROFILE', value: 'support' }],
      interactiveMode: 'Never',
    });
  });

  it('accepts a kubeconfig created from nothing', async () => {
    // Given a kubeconfig merged from an absent file
    const home = tempDir();
    const file = path.join(home, 'config');
    writeFileSync(file, mergeKubeconfig(undefined, ENTRY, { switchContext: true }).text, { mode: 0o600 });

    // When kubectl reads it
    const view = kubectlView(file, home) as { 'current-context': string; users: { name: string }[] };

    // Then it parses and points at byoc's context
    expect(view['current-context']).toBe('byoc-acme-prod');
    expect(view.users.map((u) => u.name)).toEqual(['byoc-acme-prod-alice']);
  });
});
