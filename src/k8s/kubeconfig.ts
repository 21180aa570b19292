import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { ConfigError } from '../errors.js';

export interface ExecEnvVar {
  name: string;
  value: string;
}

export interface KubeconfigEntry {
  contextName: string;
  clusterName: string;
  userName: string;
  cluster: {
    server: string;
    /** base64 of the PEM bundle; mutually exclusive with certificateAuthority */
    certificateAuthorityData?: string;
    /** path of a PEM file */
    certificateAuthority?: string;
    tlsServerName?: string;
    proxyUrl?: string;
  };
  user: {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1';
      /** absolute, so kubectl finds byoc whatever its PATH is */
      command: string;
      args: string[];
      env?: ExecEnvVar[];
      interactiveMode: 'Never';
      provideClusterInfo?: boolean;
    };
  };
  namespace?: string;
}

export interface MergeOptions {
  /**
   * Point `current-context` at the new context. Without it `current-context` is never touched, not even
   * when the file has none: kubectl then asks for `--context`, which is better than silently retargeting
   * a user's kubectl. The CLI may pass true when it creates the file from nothing.
   */
  switchContext: boolean;
}

export interface MergeResult {
  text: string;
  changed: boolean;
}

const LISTS = [
  { key: 'clusters', inner: 'cluster' },
  { key: 'users', inner: 'user' },
  { key: 'contexts', inner: 'context' },
] as const;

/**
 * Adds or replaces byoc's cluster, user and context in a kubeconfig at the YAML level, so everything else
 * (other entries, comments, key order, extensions, preferences, relative paths) survives. client-node's
 * KubeConfig round trip drops extensions and rewrites preferences and paths, which is why it is not used.
 * Re-running with the same entry returns the input text unchanged.
 */
export function mergeKubeconfig(
  existingText: string | undefined,
  entry: KubeconfigEntry,
  options: MergeOptions,
): MergeResult {
  validateEntry(entry);
  const doc = parseExisting(existingText);
  const created = doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
  if (created) doc.contents = doc.createNode({});
  let changed = created;
  const root = doc.contents as YAMLMap;
  for (const key of ['apiVersion', 'kind'] as const) {
    if (!root.has(key)) {
      root.set(key, key === 'apiVersion' ? 'v1' : 'Config');
      changed = true;
    }
  }

  const wanted = entryNodes(entry);
  for (const { key } of LISTS) {
    if (upsertNamed(doc, root, key, wanted[key])) changed = true;
  }

  if (options.switchContext && root.get('current-context') !== entry.contextName) {
    root.set('current-context', entry.contextName);
    changed = true;
  }
  if (created) root.set('preferences', doc.createNode({}));

  if (!changed) return { text: existingText ?? '', changed: false };
  return { text: doc.toString({ indentSeq: indentsSequences(existingText), lineWidth: 0 }), changed: true };
}

function validateEntry(entry: KubeconfigEntry): void {
  const problems: string[] = [];
  for (const key of ['contextName', 'clusterName', 'userName'] as const) {
    if (!entry[key]?.trim()) problems.push(`${key} is empty`);
  }
  if (!/^https:\/\//.test(entry.cluster.server)) problems.push(`server ${entry.cluster.server} is not an https URL`);
  if (entry.cluster.certificateAuthority && entry.cluster.certificateAuthorityData) {
    problems.push('both certificateAuthority and certificateAuthorityData are set');
  }
  if (!path.isAbsolute(entry.user.exec.command)) {
    problems.push(`exec command ${entry.user.exec.command} is not an absolute path`);
  }
  if (problems.length > 0) {
    throw new ConfigError('kubeconfig_entry_invalid', `cannot write the kubeconfig entry: ${problems.join('; ')}`, {
      hint: 'Check the kubernetes settings of this service in the byoc configuration (server, CA) and run again.',
    });
  }
}

function parseExisting(text: string | undefined): Document {
  const doc = parseDocument(text ?? '');
  const refuse = (why: string): never => {
    throw new ConfigError('kubeconfig_invalid', `the existing kubeconfig cannot be merged safely: ${why}`, {
      hint: 'Fix or move the file (byoc never overwrites a file it cannot read), or pass --kubeconfig <other file>.',
    });
  };
  if (doc.errors.length > 0) refuse(`not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`);
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return doc;
  if (!isMap(contents)) refuse('the top level is not a mapping');
  const root = contents as YAMLMap;
  const kind = root.get('kind');
  if (kind !== undefined && kind !== null && kind !== 'Config') refuse(`kind is ${String(kind)}, not Config`);
  const apiVersion = root.get('apiVersion');
  if (apiVersion !== undefined && apiVersion !== null && apiVersion !== 'v1') {
    refuse(`apiVersion is ${String(apiVersion)}, not v1`);
  }
  for (const { key } of LISTS) {
    const list = root.get(key, true);
    if (list !== undefined && !isSeq(list) && !(isScalar(list) && list.value === null)) refuse(`${key} is not a list`);
  }
  return doc;
}

function entryNodes(entry: KubeconfigEntry): Record<(typeof LISTS)[number]['key'], Record<string, unknown>> {
  const { cluster, user, namespace } = entry;
  const exec = user.exec;
  return {
    clusters: {
      name: entry.clusterName,
      cluster: compact({
        server: cluster.server,
        'certificate-authority-data': cluster.certificateAuthorityData,
        'certificate-authority': cluster.certificateAuthority,
        'tls-server-name': cluster.tlsServerName,
        'proxy-url': cluster.proxyUrl,
      }),
    },
    users: {
      name: entry.userName,
      user: {
        exec: compact({
          apiVersion: exec.apiVersion,
          command: exec.command,
          args: exec.args,
          env: exec.env?.map(({ name, value }) => ({ name, value })),
          interactiveMode: exec.interactiveMode,
          provideClusterInfo: exec.provideClusterInfo,
        }),
      },
    },
    contexts: {
      name: entry.contextName,
      context: compact({ cluster: entry.clusterName, user: entry.userName, namespace }),
    },
  };
}

function compact(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

/**
 * Replaces the first item with the same name (keeping the comments around it) or appends one. Later items
 * with the same name are removed: kubectl would otherwise pick one of them unpredictably.
 */
function upsertNamed(doc: Document, root: YAMLMap, key: string, wanted: Record<string, unknown>): boolean {
  let list = root.get(key, true) as YAMLSeq | undefined;
  if (!isSeq(list)) {
    list = doc.createNode([]);
    root.set(key, list);
  }
  if (list.flow && list.items.length === 0) list.flow = false;

  const sameName = list.items
    .map((item, index) => ({ item, index }))
    .filter(({ item }) => isMap(item) && (item).get('name') === wanted.name);
  const first = sameName[0];
  if (!first) {
    list.items.push(doc.createNode(wanted));
    return true;
  }
  let changed = false;
  for (const duplicate of sameName.slice(1).reverse()) {
    list.items.splice(duplicate.index, 1);
    changed = true;
  }
  const old = first.item as Node;
  if (deepEqual(old.toJSON(), wanted)) return changed;
  const replacement = doc.createNode(wanted) as Node;
  replacement.commentBefore = old.commentBefore;
  replacement.comment = old.comment;
  replacement.spaceBefore = old.spaceBefore;
  list.items[first.index] = replacement;
  return true;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

/**
 * kubectl writes block sequences flush with their key (`clusters:\n- name:`); keep whatever style the file
 * already uses so a merge does not re-indent every line.
 */
function indentsSequences(text: string | undefined): boolean {
  const match = /^[A-Za-z-]+:[ \t]*(?:#.*)?\r?\n(?:[ \t]*(?:#.*)?\r?\n)*([ \t]*)- /m.exec(text ?? '');
  return match ? match[1]!.length > 0 : false;
}

export interface KubeconfigPathInput {
  /** `--kubeconfig` */
  flag?: string | undefined;
  env: Record<string, string | undefined>;
  home: string;
  /** With it, a multi-file KUBECONFIG picks the first existing file, else the last one, exactly like kubectl. */
  exists?: (file: string) => boolean;
}

/** The file kubectl would modify: `--kubeconfig`, else one file of `KUBECONFIG`, else `~/.kube/config`. */
export function kubeconfigPathFor(input: KubeconfigPathInput): string {
  if (input.flag) return input.flag;
  const files = (input.env.KUBECONFIG ?? '').split(':').filter((file) => file !== '');
  if (files.length === 1 || (files.length > 1 && !input.exists)) return files[0]!;
  if (files.length > 1) return files.find((file) => input.exists!(file)) ?? files[files.length - 1]!;
  return path.join(input.home, '.kube', 'config');
}

interface WritableHandle {
  writeFile(data: string | Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations the writer needs; node:fs/promises fits, tests can pass one that fails. */
export interface KubeconfigFs {
  mkdir(dir: string, options: { recursive: true; mode: number }): Promise<unknown>;
  readFile(file: string): Promise<Uint8Array>;
  open(file: string, flags: string, mode?: number): Promise<WritableHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  realpath(file: string): Promise<string>;
}

export interface WriteOptions {
  /** Keep a copy of the previous file next to it (mode 0600). Default true. */
  backup?: boolean;
  /** Clock for the backup name. */
  now: () => Date;
  fs?: KubeconfigFs;
}

export interface WriteResult {
  /** The file written: the target of a symlinked kubeconfig, so the link survives. */
  path: string;
  backupPath?: string;
}

/** Reads a kubeconfig; undefined when it does not exist yet. */
export async function readKubeconfig(file: string, fs: KubeconfigFs = nodeFs): Promise<string | undefined> {
  try {
    return Buffer.from(await fs.readFile(file)).toString('utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Replaces the file in one step: a temp file in the same folder (mode 0600, fsynced) renamed over the
 * target, so a crash leaves either the old or the new file, never half of one.
 */
export async function writeKubeconfigAtomically(file: string, text: string, options: WriteOptions): Promise<WriteResult> {
  const fs = options.fs ?? nodeFs;
  const target = await resolveTarget(fs, file);
  const dir = path.dirname(target);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });

  let backupPath: string | undefined;
  if (options.backup !== false) {
    const previous = await readOptional(fs, target);
    if (previous !== undefined) backupPath = await writeBackup(fs, target, previous, options.now());
  }

  const temp = path.join(dir, `.${path.basename(target)}.byoc-tmp-${randomBytes(6).toString('hex')}`);
  try {
    await writeDurably(fs, temp, text, 'wx');
    await fs.rename(temp, target);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(fs, dir);
  return backupPath ? { path: target, backupPath } : { path: target };
}

async function resolveTarget(fs: KubeconfigFs, file: string): Promise<string> {
  try {
    return await fs.realpath(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return path.resolve(file);
    throw error;
  }
}

async function readOptional(fs: KubeconfigFs, file: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeBackup(fs: KubeconfigFs, target: string, previous: Uint8Array, at: Date): Promise<string> {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = `${target}.byoc-backup-${stamp}`;
  for (let attempt = 0; ; attempt++) {
    const candidate = attempt === 0 ? base : `${base}-${attempt}`;
    try {
      await writeDurably(fs, candidate, previous, 'wx');
      return candidate;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST' || attempt >= 100) throw error;
    }
  }
}

async function writeDurably(fs: KubeconfigFs, file: string, data: string | Uint8Array, flags: string): Promise<void> {
  const handle = await fs.open(file, flags, 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the rename itself durable; some platforms cannot open a folder, which is harmless. */
async function syncDirectory(fs: KubeconfigFs, dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}
