import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../../src/errors.js';
import { kubeconfigPathFor, mergeKubeconfig, type KubeconfigEntry } from '../../../src/k8s/kubeconfig.js';
import { ENTRY, EXISTING } from './kubeconfig-samples.js';

interface Named {
  name: string;
  [key: string]: unknown;
}
interface Kubeconfig {
  apiVersion: string;
  kind: string;
  clusters: Named[];
  users: Named[];
  contexts: Named[];
  'current-context'?: string;
  preferences: unknown;
  extensions?: unknown;
}

function configOf(text: string): Kubeconfig {
  return parse(text) as Kubeconfig;
}

describe('mergeKubeconfig on an empty or absent file', () => {
  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['blank', '\n  \n'],
  ])('builds a complete kubeconfig when the file is %s', (_, existing) => {
    // Given no kubeconfig content
    // When byoc merges its entry
    const result = mergeKubeconfig(existing, ENTRY, { switchContext: false });

    // Then the result is a complete kubeconfig holding exactly byoc's cluster, user and context
    expect(result.changed).toBe(true);
    const config = configOf(result.text);
    expect(config).toMatchObject({ apiVersion: 'v1', kind: 'Config', preferences: {} });
    expect(config.clusters).toEqual([
      {
        name: 'byoc-acme-prod',
        cluster: {
          server: ENTRY.cluster.server,
          'certificate-authority-data': ENTRY.cluster.certificateAuthorityData,
          'tls-server-name': ENTRY.cluster.tlsServerName,
          'proxy-url': 'http://localhost:1055',
        },
      },
    ]);
    expect(config.users).toEqual([
      {
        name: 'byoc-acme-prod-alice',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: '/usr/local/bin/byoc',
            args: ['kube-credential', 'acme-prod'],
            env: [{ name: 'BYOC_PROFILE', value: 'support' }],
            interactiveMode: 'Never',
            provideClusterInfo: false,
          },
        },
      },
    ]);
    expect(config.contexts).toEqual([
      { name: 'byoc-acme-prod', context: { cluster: 'byoc-acme-prod', user: 'byoc-acme-prod-alice', namespace: 'clickhouse' } },
    ]);
    // And current-context stays unset without switchContext
    expect(config['current-context']).toBeUndefined();
  });

  it('keeps a file that holds only comments, adding the config below them', () => {
    // Given a file with only a comment
    const result = mergeKubeconfig('# my notes\n', ENTRY, { switchContext: true });

    // Then the comment is still first and the config is complete
    expect(result.text.startsWith('# my notes\n')).toBe(true);
    expect(configOf(result.text)['current-context']).toBe('byoc-acme-prod');
  });

  it('writes sequences flush with their key, the way kubectl does', () => {
    // Given no file
    const { text } = mergeKubeconfig(undefined, ENTRY, { switchContext: false });

    // Then list items start at column 0 under their key
    expect(text).toMatch(/^clusters:\n- /m);
    expect(text).toMatch(/^users:\n- /m);
  });

  it('omits optional fields that were not given', () => {
    // Given an entry with a CA file path and no proxy, TLS name, env or namespace
    const minimal: KubeconfigEntry = {
      ...ENTRY,
      cluster: { server: ENTRY.cluster.server, certificateAuthority: '/etc/byoc/acme-ca.pem' },
      user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/usr/local/bin/byoc', args: ['kube-credential', 'acme-prod'], interactiveMode: 'Never' } },
    };
    delete minimal.namespace;

    // When merged
    const config = configOf(mergeKubeconfig(undefined, minimal, { switchContext: false }).text);

    // Then only the given fields appear
    expect(config.clusters[0]!.cluster).toEqual({ server: ENTRY.cluster.server, 'certificate-authority': '/etc/byoc/acme-ca.pem' });
    expect(config.users[0]!.user).toEqual({
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/usr/local/bin/byoc', args: ['kube-credential', 'acme-prod'], interactiveMode: 'Never' },
    });
    expect(config.contexts[0]!.context).toEqual({ cluster: 'byoc-acme-prod', user: 'byoc-acme-prod-alice' });
  });
});

describe('mergeKubeconfig on an existing file', () => {
  it('leaves other clusters, users, contexts, current-context, preferences, extensions and comments intact', () => {
    // Given a kubeconfig with other entries, comments, extensions and preferences
    const before = configOf(EXISTING);

    // When byoc merges its entry without switching context
    const { text, changed } = mergeKubeconfig(EXISTING, ENTRY, { switchContext: false });

    // Then everything that is not byoc's is unchanged
    expect(changed).toBe(true);
    const after = configOf(text);
    expect(after.clusters.find((c) => c.name === 'prod')).toEqual(before.clusters.find((c) => c.name === 'prod'));
    expect(after.contexts.find((c) => c.name === 'prod')).toEqual(before.contexts.find((c) => c.name === 'prod'));
    expect(after.users.find((u) => u.name === 'prod-admin')).toEqual(before.users.find((u) => u.name === 'prod-admin'));
    expect(after['current-context']).toBe('prod');
    expect(after.preferences).toEqual({ colors: true });
    expect(after.extensions).toEqual(before.extensions);
    // And the comments and the relative path survive verbatim
    expect(text).toContain('# Managed by hand: this comment must survive\n');
    expect(text).toContain('certificate-authority: ../certs/prod-ca.pem # relative path, must stay relative\n');
    expect(text).toContain('token: s3cr3t # a secret the merge must not touch\n');
    // And the untouched head of the file is byte-identical
    const head = EXISTING.slice(0, EXISTING.indexOf('# byoc entry'));
    expect(text.startsWith(head)).toBe(true);
  });

  it('replaces same-named entries in place instead of adding duplicates', () => {
    // Given a file that already has a byoc cluster and context (from an older run), at index 1
    // When merged
    const after = configOf(mergeKubeconfig(EXISTING, ENTRY, { switchContext: false }).text);

    // Then each name appears once, at the position it had, with the new content
    expect(after.clusters.map((c) => c.name)).toEqual(['prod', 'byoc-acme-prod']);
    expect(after.clusters[1]!.cluster).toMatchObject({ server: ENTRY.cluster.server });
    expect(after.contexts.map((c) => c.name)).toEqual(['prod', 'byoc-acme-prod']);
    expect(after.contexts[1]!.context).toMatchObject({ namespace: 'clickhouse' });
    // And the new user is appended after the existing one
    expect(after.users.map((u) => u.name)).toEqual(['prod-admin', 'byoc-acme-prod-alice']);
  });

  it('keeps the comment written above a replaced entry', () => {
    // Given a comment above the old byoc cluster
    // When it is replaced
    const { text } = mergeKubeconfig(EXISTING, ENTRY, { switchContext: false });

    // Then the comment still precedes the byoc cluster
    expect(text).toMatch(/# byoc entry from an older run\n- name: byoc-acme-prod\n/);
  });

  it('is idempotent: a second run with the same entry changes nothing, byte for byte', () => {
    // Given a file merged once
    const first = mergeKubeconfig(EXISTING, ENTRY, { switchContext: true });

    // When merged again with the same input
    const second = mergeKubeconfig(first.text, ENTRY, { switchContext: true });

    // Then nothing changed
    expect(second.changed).toBe(false);
    expect(second.text).toBe(first.text);
  });

  it('reports no change and returns the input text when the entry is already there', () => {
    // Given a file from an empty start
    const first = mergeKubeconfig(undefined, ENTRY, { switchContext: false });

    // When merged again
    const second = mergeKubeconfig(first.text, ENTRY, { switchContext: false });

    // Then the very same text comes back
    expect(second).toEqual({ text: first.text, changed: false });
  });

  it('updates the entry when its content changes, still without duplicates', () => {
    // Given a merged file
    const first = mergeKubeconfig(EXISTING, ENTRY, { switchContext: false });

    // When the server URL changes
    const moved = { ...ENTRY, cluster: { ...ENTRY.cluster, server: 'https://k8s.new.example.com' } };
    const second = mergeKubeconfig(first.text, moved, { switchContext: false });

    // Then the one byoc cluster has the new server
    expect(second.changed).toBe(true);
    const clusters = configOf(second.text).clusters.filter((c) => c.name === 'byoc-acme-prod');
    expect(clusters).toHaveLength(1);
    expect(clusters[0]!.cluster).toMatchObject({ server: 'https://k8s.new.example.com' });
  });

  it('removes later duplicates of byoc names', () => {
    // Given a file where the byoc context appears twice
    const doubled = EXISTING.replace(
      'current-context: prod',
      '- context:\n    cluster: x\n    user: y\n  name: byoc-acme-prod\ncurrent-context: prod',
    );
    expect(configOf(doubled).contexts.filter((c) => c.name === 'byoc-acme-prod')).toHaveLength(2);

    // When merged
    const after = configOf(mergeKubeconfig(doubled, ENTRY, { switchContext: false }).text);

    // Then one remains, with byoc's content
    const contexts = after.contexts.filter((c) => c.name === 'byoc-acme-prod');
    expect(contexts).toEqual([{ name: 'byoc-acme-prod', context: { cluster: 'byoc-acme-prod', user: 'byoc-acme-prod-alice', namespace: 'clickhouse' } }]);
  });

  it('switches current-context only when asked', () => {
    // Given a file whose current context is prod
    // When merged with and without switchContext
    const kept = configOf(mergeKubeconfig(EXISTING, ENTRY, { switchContext: false }).text);
    const switched = configOf(mergeKubeconfig(EXISTING, ENTRY, { switchContext: true }).text);

    // Then only the switching merge moves it
    expect(kept['current-context']).toBe('prod');
    expect(switched['current-context']).toBe('byoc-acme-prod');
  });

  it('does not set current-context on a file that has none unless asked', () => {
    // Given a file without current-context
    const withoutCurrent = EXISTING.replace('current-context: prod\n', '');

    // When merged without switchContext
    const after = configOf(mergeKubeconfig(withoutCurrent, ENTRY, { switchContext: false }).text);

    // Then it stays unset
    expect(after['current-context']).toBeUndefined();
  });

  it('counts switching to the context as a change even when the entries are already there', () => {
    // Given a merged file that still points at prod
    const merged = mergeKubeconfig(EXISTING, ENTRY, { switchContext: false });

    // When merged again with switchContext
    const switched = mergeKubeconfig(merged.text, ENTRY, { switchContext: true });

    // Then only current-context changed
    expect(switched.changed).toBe(true);
    expect(switched.text).toBe(merged.text.replace('current-context: prod', 'current-context: byoc-acme-prod'));
  });

  it('keeps indented sequences when the file uses them', () => {
    // Given a hand-written file indenting its list items
    const indented = 'apiVersion: v1\nkind: Config\nclusters:\n  - name: a\n    cluster:\n      server: https://a.example.com\n';

    // When merged
    const { text } = mergeKubeconfig(indented, ENTRY, { switchContext: false });

    // Then the original lines are unchanged and the new lists follow the same style
    expect(text.startsWith(indented)).toBe(true);
    expect(text).toMatch(/^users:\n {2}- /m);
  });

  it('turns an empty flow list into a block list before adding to it', () => {
    // Given `clusters: []` and `users: null`
    const sparse = 'apiVersion: v1\nkind: Config\nclusters: []\nusers: null\ncontexts:\n';

    // When merged
    const { text } = mergeKubeconfig(sparse, ENTRY, { switchContext: false });

    // Then the lists hold byoc's entries in block style
    expect(text).toMatch(/^clusters:\n- name: byoc-acme-prod$/m);
    expect(configOf(text).users).toHaveLength(1);
    expect(configOf(text).contexts).toHaveLength(1);
  });

  it('keeps a JSON kubeconfig readable (client-node exports JSON)', () => {
    // Given a JSON kubeconfig
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'x', cluster: { server: 'https://x' } }], users: [], contexts: [], 'current-context': 'x' });

    // When merged
    const config = configOf(mergeKubeconfig(json, ENTRY, { switchContext: false }).text);

    // Then it parses with both the old and the new entries
    expect(config.clusters.map((c) => c.name)).toEqual(['x', 'byoc-acme-prod']);
    expect(config['current-context']).toBe('x');
  });
});

describe('mergeKubeconfig refusals', () => {
  it.each([
    ['invalid YAML', 'apiVersion: v1\nclusters: [\n  - oops: : :\n'],
    ['duplicate keys', 'apiVersion: v1\nkind: Config\nkind: Config\n'],
    ['several documents', 'apiVersion: v1\n---\nkind: Config\n'],
    ['a top-level list', '- a\n- b\n'],
    ['a top-level scalar', 'just text\n'],
    ['another kind', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n'],
    ['another apiVersion', 'apiVersion: v2\nkind: Config\n'],
    ['clusters that is not a list', 'apiVersion: v1\nkind: Config\nclusters: prod\n'],
  ])('refuses %s with a ConfigError and a hint', (_, text) => {
    // Given a file that is not a mergeable kubeconfig
    // When merged
    // Then byoc refuses instead of rewriting it
    let error: unknown;
    try {
      mergeKubeconfig(text, ENTRY, { switchContext: false });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('kubeconfig_invalid');
    expect((error as ConfigError).hint).toMatch(/never overwrites/);
  });

  it('refuses an exec command that is not an absolute path', () => {
    // Given an entry whose plugin command is relative (kubectl would look it up in its own PATH)
    const relative = { ...ENTRY, user: { exec: { ...ENTRY.user.exec, command: 'byoc' } } };

    // When merged
    // Then it is refused
    expect(() => mergeKubeconfig(undefined, relative, { switchContext: false })).toThrow(/not an absolute path/);
  });

  it('refuses both a CA file and CA data', () => {
    // Given an entry with both CA forms
    const both = { ...ENTRY, cluster: { ...ENTRY.cluster, certificateAuthority: '/ca.pem' } };

    // Then it is refused, since kubectl would silently prefer one
    expect(() => mergeKubeconfig(undefined, both, { switchContext: false })).toThrow(ConfigError);
  });
});

describe('kubeconfigPathFor', () => {
  const home = '/home/alice';

  it('prefers --kubeconfig', () => {
    // Given a flag and KUBECONFIG
    // Then the flag wins
    expect(kubeconfigPathFor({ flag: '/tmp/k.yaml', env: { KUBECONFIG: '/a:/b' }, home })).toBe('/tmp/k.yaml');
  });

  it('uses a single KUBECONFIG file', () => {
    expect(kubeconfigPathFor({ env: { KUBECONFIG: '/etc/kube/one.yaml' }, home })).toBe('/etc/kube/one.yaml');
  });

  it('takes the first file of a KUBECONFIG list, ignoring empty entries', () => {
    // Given a list with an empty first element
    // Then the first named file is chosen
    expect(kubeconfigPathFor({ env: { KUBECONFIG: ':/a.yaml:/b.yaml' }, home })).toBe('/a.yaml');
  });

  it('with an existence check, takes the first existing file of the list, else the last, like kubectl', () => {
    // Given a list where only the second file exists
    const env = { KUBECONFIG: '/a.yaml:/b.yaml:/c.yaml' };

    // Then the existing one is chosen; with none existing, the last
    expect(kubeconfigPathFor({ env, home, exists: (file) => file === '/b.yaml' })).toBe('/b.yaml');
    expect(kubeconfigPathFor({ env, home, exists: () => false })).toBe('/c.yaml');
  });

  it('falls back to ~/.kube/config', () => {
    // Given neither a flag nor KUBECONFIG (or an empty one)
    expect(kubeconfigPathFor({ env: {}, home })).toBe('/home/alice/.kube/config');
    expect(kubeconfigPathFor({ env: { KUBECONFIG: '' }, home })).toBe('/home/alice/.kube/config');
  });
});
