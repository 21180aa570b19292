import path from 'node:path';
import { defineCommand, option } from '../../src/command.js';
import type { PackVerdict } from '../../src/audit/pack/pack.js';
import { NotAllowedError, UsageError } from '../../src/errors.js';

type VerifyResult = PackVerdict & { dir: string };

export default defineCommand({
  examples: ['byoc audit verify audit-pack --public-key audit-signing.pub.pem', 'byoc audit verify audit-pack --json | jq .problems'],
  args: { dir: { description: 'the evidence pack folder (byoc audit report --out)' } },
  options: {
    publicKey: option.path({
      flag: '--public-key <file>', key: 'audit.publicKey', env: 'BYOC_AUDIT_PUBLIC_KEY', defaultNote: "the pack's own public-key.pem (proves integrity, not who signed)",
      description: 'the published Ed25519 public key the pack must be signed with',
    }),
  },
  async run(input, ctx): Promise<VerifyResult> {
    if (!input.dir) throw new UsageError('dir_missing', 'byoc audit verify needs the pack folder', { hint: 'byoc audit verify audit-pack --public-key audit-signing.pub.pem' });
    const [{ verifyPack }, { readFile }] = await Promise.all([import('../../src/audit/pack/pack.js'), import('node:fs/promises')]);
    const dir = path.resolve(ctx.cwd, input.dir);
    const publicPem = input.publicKey ? await readFile(path.resolve(ctx.cwd, input.publicKey), 'utf8') : undefined;
    const verdict = await verifyPack(dir, publicPem);
    if (verdict.intact && !publicPem) ctx.log.warn(`Checked against the pack's own public-key.pem: nothing changed since it was signed, but anyone can sign a pack with a key of their own. Pass --public-key with the key the customer published to know who signed it.`);
    return { dir, ...verdict };
  },
  text: (result) =>
    result.intact
      ? `${result.dir}: intact, ${result.manifest?.files.length ?? 0} files, signed by key ${result.key?.sha256} (${result.key?.source === 'given' ? 'the given public key' : "the pack's own copy"})`
      : `${result.dir}: NOT intact\n${result.problems.map(describe).join('\n')}`,
  outcome: (result) =>
    result.intact
      ? undefined
      : new NotAllowedError('pack_changed', `the evidence pack ${result.dir} does not verify: ${result.problems.map(describe).join('; ')}`, {
          hint: 'Do not rely on this copy: ask the customer for the pack again (or compare it with their copy), and check it with the public key they published.',
        }),
});

function describe(problem: PackVerdict['problems'][number]): string {
  switch (problem.problem) {
    case 'changed':
      return `${problem.file} changed (manifest SHA-256 ${problem.expected}, file ${problem.found})`;
    case 'missing':
      return `${problem.file} is missing`;
    case 'unexpected':
      return `${problem.file} is not in the manifest (added after signing)`;
    case 'other-key':
      return `the manifest was made for key ${problem.expected}, not the key given (${problem.found})`;
    default:
      return `${problem.file}: ${problem.detail}`;
  }
}
