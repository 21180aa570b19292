import path from 'node:path';
import { defineCommand, option } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

interface KeygenResult {
  /** where the private key was written (0600) */
  file: string;
  publicKeyPem: string;
  /** SHA-256 of the public key (DER): what manifest.json's publicKeySha256 names */
  publicKeySha256: string;
}

export default defineCommand({
  examples: ['byoc audit keygen', 'byoc audit keygen --out ~/.config/byoc/audit-signing.pem > audit-signing.pub.pem'],
  options: {
    out: option.path({
      flag: '--out <file>', key: 'audit.keygenOut', env: 'BYOC_AUDIT_KEYGEN_OUT', defaultNote: 'audit/signing-key.pem in the state folder',
      description: 'where to write the new Ed25519 private key (0600; never overwritten)',
    }),
  },
  async run({ out }, ctx): Promise<KeygenResult> {
    const { defaultSigningKey, generateSigningKey, publicKeySha256, writePrivateKey } = await import('../../src/audit/pack/pack.js');
    const file = out ? path.resolve(ctx.cwd, out) : defaultSigningKey(ctx.stateDir());
    const keys = generateSigningKey();
    try {
      await writePrivateKey(file, keys.privatePem);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UsageError('key_exists', `${file} already exists: byoc never overwrites a signing key (packs signed with it could no longer be told apart from forged ones)`, {
          hint: `Keep using it (byoc audit report signs with it), or choose another file: byoc audit keygen --out ${path.join(path.dirname(file), 'signing-key-2.pem')}`,
        });
      }
      throw error;
    }
    ctx.log.info(`Private key written to ${file} (0600): keep it on this machine. Publish the public key printed on stdout where your auditors can find it; byoc audit verify --public-key and openssl check packs against it.`);
    return { file, publicKeyPem: keys.publicPem, publicKeySha256: publicKeySha256(keys.publicPem) };
  },
  text: (result) => result.publicKeyPem,
});
