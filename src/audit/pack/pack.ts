import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The evidence pack: a folder of files, manifest.json naming each with its SHA-256, and manifest.sig, a raw
 * 64-byte Ed25519 signature over the exact bytes of manifest.json. node:crypto does Ed25519 itself (no library
 * needed), and the raw signature is what `openssl pkeyutl -verify -rawin` reads, so an auditor checks the pack
 * without byoc.
 */
const MANIFEST = 'manifest.json';
const SIGNATURE = 'manifest.sig';
/** the signer's public key, copied into the pack for convenience: it proves origin only when compared with the published one */
const PUBLIC_KEY = 'public-key.pem';

/** The signing key's default place, for `byoc audit keygen` and `byoc audit report`. */
export function defaultSigningKey(stateDir: string): string {
  return path.join(stateDir, 'audit', 'signing-key.pem');
}

export interface Manifest {
  format: 'byoc-audit-pack/1';
  createdAt: string;
  byocVersion: string;
  service: string;
  server: string;
  window: { since: string; until: string };
  /** the SHA-256 of the signer's public key (DER, SPKI): which key must verify manifest.sig */
  publicKeySha256: string;
  files: { name: string; bytes: number; sha256: string }[];
}

export interface KeyPair {
  privatePem: string;
  publicPem: string;
}

export function generateSigningKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The public half of a private key, as PEM; throws on anything but an Ed25519 key. */
export function publicKeyOf(privatePem: string): string {
  const key = createPrivateKey(privatePem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${key.asymmetricKeyType ?? 'not an asymmetric key'}, not Ed25519`);
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

export function publicKeySha256(publicPem: string): string {
  return sha256(createPublicKey(publicPem).export({ type: 'spki', format: 'der' }));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface PackInput {
  files: { name: string; content: string | Uint8Array }[];
  createdAt: string;
  byocVersion: string;
  service: string;
  server: string;
  window: { since: string; until: string };
  privatePem: string;
}

/**
 * Writes the pack into dir (created 0700 when missing; it must hold no other pack: a file left from an earlier
 * one would make the folder fail to verify). The manifest and its signature are written last, so a folder
 * without manifest.sig is a pack that was never finished.
 */
export async function writePack(dir: string, input: PackInput): Promise<Manifest> {
  const publicPem = publicKeyOf(input.privatePem);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const present = await readdir(dir);
  if (present.length > 0) throw new Error(`${dir} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''})`);
  const files: Manifest['files'] = [];
  for (const file of [...input.files, { name: PUBLIC_KEY, content: publicPem }]) {
    const bytes = typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
    await writeFile(path.join(dir, file.name), bytes, { mode: 0o644, flag: 'wx' });
    files.push({ name: file.name, bytes: bytes.length, sha256: sha256(bytes) });
  }
  const manifest: Manifest = {
    format: 'byoc-audit-pack/1',
    createdAt: input.createdAt,
    byocVersion: input.byocVersion,
    service: input.service,
    server: input.server,
    window: input.window,
    publicKeySha256: publicKeySha256(publicPem),
    files,
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, MANIFEST), manifestBytes, { mode: 0o644, flag: 'wx' });
  // Ed25519 hashes internally (no digest argument): the signature is over the manifest's bytes as they are on disk.
  const signature = sign(null, manifestBytes, createPrivateKey(input.privatePem));
  const temp = path.join(dir, `.${SIGNATURE}.tmp`);
  await writeFile(temp, signature, { mode: 0o644 });
  await rename(temp, path.join(dir, SIGNATURE));
  return manifest;
}

type PackProblem =
  | { file: string; problem: 'changed'; expected: string; found: string }
  | { file: string; problem: 'missing' }
  | { file: string; problem: 'unexpected' }
  | { file: string; problem: 'bad-signature' | 'unreadable'; detail: string }
  | { file: string; problem: 'other-key'; expected: string; found: string };

export interface PackVerdict {
  intact: boolean;
  /** which public key was used: the given file, else the pack's own copy */
  key: { source: 'given' | 'pack'; sha256: string } | null;
  manifest: Manifest | null;
  problems: PackProblem[];
}

/**
 * Checks the signature first (over the manifest's exact bytes), then every listed file's hash, then that no
 * file was added. With publicPem (the key the customer published), it proves who signed; without it, the pack's
 * own public-key.pem proves only that nothing changed after signing, by whoever holds that key.
 */
export async function verifyPack(dir: string, publicPem?: string): Promise<PackVerdict> {
  const problems: PackProblem[] = [];
  let manifestBytes: Buffer;
  try {
    manifestBytes = await readFile(path.join(dir, MANIFEST));
  } catch {
    return { intact: false, key: null, manifest: null, problems: [{ file: MANIFEST, problem: 'missing' }] };
  }
  const manifest = readManifest(manifestBytes, problems);
  let keyPem = publicPem;
  let source: 'given' | 'pack' = 'given';
  if (!keyPem) {
    source = 'pack';
    keyPem = await readFile(path.join(dir, PUBLIC_KEY), 'utf8').catch(() => undefined);
  }
  let key: KeyObject | undefined;
  try {
    if (keyPem) key = createPublicKey(keyPem);
  } catch (error) {
    problems.push({ file: source === 'pack' ? PUBLIC_KEY : 'the public key', problem: 'unreadable', detail: (error as Error).message });
  }
  const keyInfo = key ? { source, sha256: sha256(key.export({ type: 'spki', format: 'der' })) } : null;
  const signature = await readFile(path.join(dir, SIGNATURE)).catch(() => undefined);
  if (!signature) problems.push({ file: SIGNATURE, problem: 'missing' });
  else if (key && !verify(null, manifestBytes, key, signature)) {
    problems.push({ file: SIGNATURE, problem: 'bad-signature', detail: `manifest.json's signature does not verify with the key ${keyInfo!.sha256.slice(0, 16)}...` });
  }
  if (manifest && keyInfo && manifest.publicKeySha256 !== keyInfo.sha256) {
    problems.push({ file: MANIFEST, problem: 'other-key', expected: manifest.publicKeySha256, found: keyInfo.sha256 });
  }
  if (manifest) {
    for (const file of manifest.files) {
      // a manifest naming ../ would hash a file outside the pack
      if (path.basename(file.name) !== file.name) {
        problems.push({ file: file.name, problem: 'unexpected' });
        continue;
      }
      const bytes = await readFile(path.join(dir, file.name)).catch(() => undefined);
      if (!bytes) problems.push({ file: file.name, problem: 'missing' });
      else if (sha256(bytes) !== file.sha256) problems.push({ file: file.name, problem: 'changed', expected: file.sha256, found: sha256(bytes) });
    }
    const listed = new Set([...manifest.files.map((file) => file.name), MANIFEST, SIGNATURE]);
    for (const name of (await readdir(dir)).sort()) if (!listed.has(name)) problems.push({ file: name, problem: 'unexpected' });
  }
  return { intact: problems.length === 0, key: keyInfo, manifest, problems };
}

function readManifest(bytes: Buffer, problems: PackProblem[]): Manifest | null {
  try {
    const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    if (!Array.isArray(manifest.files)) throw new Error('no files list');
    return manifest;
  } catch (error) {
    problems.push({ file: MANIFEST, problem: 'unreadable', detail: (error as Error).message });
    return null;
  }
}

/** Writes the private key 0600 (never group- or world-readable, whatever the umask), failing when the file exists. */
export async function writePrivateKey(file: string, privatePem: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, privatePem, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
}
