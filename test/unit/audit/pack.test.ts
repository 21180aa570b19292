import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, verifyPack, writePack, writePrivateKey } from '../../../src/audit/pack/pack.js';
import { tempDir } from '../../fakes/fs.js';

const FILES = ['events.ndjson', 'findings.ndjson', 'summary.json', 'report.html'];
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

async function aPack() {
  const keys = generateSigningKey();
  const dir = path.join(tempDir(), 'pack');
  const manifest = await writePack(dir, {
    files: [
      { name: 'events.ndjson', content: '{"user":"byoc_r_aaaaaaaaaa_alice","query":"SELECT 1"}\n' },
      { name: 'findings.ndjson', content: '{"kind":"denied"}\n' },
      { name: 'summary.json', content: '{"requests":[]}\n' },
      { name: 'report.html', content: '<!doctype html><p>report</p>\n' },
    ],
    createdAt: '2026-11-30T12:00:00.000Z',
    byocVersion: '0.0.0-test',
    service: 'sandbox',
    server: 'https://127.0.0.1:8443',
    window: { since: '2026-11-23T12:00:00.000Z', until: '2026-11-30T12:00:00.000Z' },
    privatePem: keys.privatePem,
  });
  return { keys, dir, manifest };
}

describe('the evidence pack', () => {
  it('lists every file with its SHA-256, the window, the server and the version, and verifies with the signer key', async () => {
    // Given a pack written with a fresh key
    const { keys, dir, manifest } = await aPack();
    // Then the manifest names each file with the hash sha256sum computes, the public key included
    expect(manifest.files.map((file) => file.name)).toEqual([...FILES, 'public-key.pem']);
    for (const file of manifest.files) {
      const { createHash } = await import('node:crypto');
      expect(file.sha256).toBe(createHash('sha256').update(readFileSync(path.join(dir, file.name))).digest('hex'));
    }
    expect(manifest).toMatchObject({ server: 'https://127.0.0.1:8443', byocVersion: '0.0.0-test', window: { since: '2026-11-23T12:00:00.000Z' } });
    // And it verifies with the published public key, and with the pack's own copy
    expect(await verifyPack(dir, keys.publicPem)).toMatchObject({ intact: true, problems: [], key: { source: 'given' } });
    expect(await verifyPack(dir)).toMatchObject({ intact: true, key: { source: 'pack' } });
  });

  it.runIf(hasOpenssl || process.env.CI === 'true')('is checkable with openssl pkeyutl -verify as documented, and openssl refuses a changed manifest', async () => {
    // Given a pack and its public key published as a file
    const { keys, dir } = await aPack();
    writeFileSync(path.join(dir, '..', 'audit-signing.pub.pem'), keys.publicPem);
    // When an auditor runs the README's recipe line, exactly as printed there, in the pack folder
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const line = readme.split('\n').find((text) => text.startsWith('openssl pkeyutl -verify'));
    expect(line).toBe('openssl pkeyutl -verify -pubin -inkey ../audit-signing.pub.pem -rawin -in manifest.json -sigfile manifest.sig');
    const recipe = line!.split(' ').slice(1);
    // Then openssl says the signature verifies
    expect(execFileSync('openssl', recipe, { cwd: dir, encoding: 'utf8' })).toContain('Signature Verified Successfully');
    // And after one changed byte of the manifest it does not
    const manifest = path.join(dir, 'manifest.json');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('sandbox', 'sandbax'));
    const tampered = spawnSync('openssl', recipe, { cwd: dir, encoding: 'utf8' });
    expect(tampered.status).not.toBe(0);
    expect(tampered.stdout + tampered.stderr).toContain('Signature Verification Failure');
    // And the hashes sha256sum checks are the manifest's (the other half of the recipe)
    const { manifest: listed } = await verifyPack(dir, keys.publicPem);
    const sums = listed!.files.map((file) => `${file.sha256}  ${file.name}\n`).join('');
    expect(spawnSync('sha256sum', ['-c', '-'], { cwd: dir, input: sums }).status).toBe(0);
  });

  it.each([...FILES, 'public-key.pem', 'manifest.json', 'manifest.sig'])('fails to verify after one byte of %s changes, naming it', async (name) => {
    // Given an intact pack
    const { keys, dir } = await aPack();
    // When one byte of the file is flipped
    const file = path.join(dir, name);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);
    // Then verification with the published key fails, naming the file (or the signature over the manifest)
    const verdict = await verifyPack(dir, keys.publicPem);
    expect(verdict.intact).toBe(false);
    const named = verdict.problems.map((problem) => problem.file);
    if (name === 'manifest.json' || name === 'manifest.sig') expect(verdict.problems).toContainEqual(expect.objectContaining({ file: 'manifest.sig', problem: 'bad-signature' }));
    else expect(named).toContain(name);
  });

  it('fails to verify when a file is removed, a file is added, or it was signed by another key', async () => {
    const { keys, dir } = await aPack();
    // Given a removed file
    rmSync(path.join(dir, 'findings.ndjson'));
    expect((await verifyPack(dir, keys.publicPem)).problems).toEqual([{ file: 'findings.ndjson', problem: 'missing' }]);
    // Given an added file
    const second = await aPack();
    writeFileSync(path.join(second.dir, 'extra.ndjson'), '{}\n');
    expect((await verifyPack(second.dir, second.keys.publicPem)).problems).toEqual([{ file: 'extra.ndjson', problem: 'unexpected' }]);
    // Given a pack re-signed by somebody else's key (its own public-key.pem replaced too): only the published key tells
    const forged = await aPack();
    const verdict = await verifyPack(forged.dir, keys.publicPem);
    expect(verdict.intact).toBe(false);
    expect(verdict.problems).toContainEqual(expect.objectContaining({ file: 'manifest.sig', problem: 'bad-signature' }));
    // And a missing signature is named
    rmSync(path.join(forged.dir, 'manifest.sig'));
    expect((await verifyPack(forged.dir)).problems).toContainEqual({ file: 'manifest.sig', problem: 'missing' });
  });

  it('refuses to write into a folder that holds anything (its files would not be in the manifest)', async () => {
    const { keys, dir } = await aPack();
    appendFileSync(path.join(dir, '..', 'note'), 'x');
    await expect(writePack(dir, { files: [], createdAt: '', byocVersion: '', service: '', server: '', window: { since: '', until: '' }, privatePem: keys.privatePem })).rejects.toThrow(/is not empty/);
  });

  it('writes the private key 0600 and never over an existing file', async () => {
    const file = path.join(tempDir(), 'keys', 'signing.pem');
    const { privatePem } = generateSigningKey();
    await writePrivateKey(file, privatePem);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await expect(writePrivateKey(file, generateSigningKey().privatePem)).rejects.toThrow(/EEXIST/);
    expect(readFileSync(file, 'utf8')).toBe(privatePem);
  });
});
