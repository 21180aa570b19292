import path from 'node:path';
import type { BrokerCrl } from '../../src/access/client.js';
import { defineCommand, option } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc broker crl --out /etc/nginx/byoc-crl.pem', 'byoc broker crl > byoc-crl.pem', 'byoc broker crl --json'],
  options: {
    out: option.path({ flag: '--out <file>', key: 'broker.crlFile', env: 'BYOC_BROKER_CRL_FILE', defaultNote: 'stdout', description: 'write the CRL to this file (PEM, 0644) instead of stdout' }),
  },
  async run({ out }, ctx): Promise<BrokerCrl & { file?: string }> {
    const broker = await ctx.client('broker');
    const crl = await broker.crl();
    const summary = `CRL number ${crl.number} from ${broker.location}: ${crl.revoked.length} revoked certificate${crl.revoked.length === 1 ? '' : 's'}, valid ${crl.thisUpdate} to ${crl.nextUpdate}`;
    if (!out) {
      ctx.log.info(summary);
      return crl;
    }
    const file = path.resolve(ctx.cwd, out);
    const { chmod, rename, rm, writeFile } = await import('node:fs/promises');
    const { randomBytes } = await import('node:crypto');
    // Replaced in one rename: a server reloading mid-write never reads half a CRL. Public, hence 0644.
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, crl.pem, { mode: 0o644, flag: 'wx' });
      // whatever the umask: the server's worker user must be able to read it
      await chmod(temp, 0o644);
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return { ...crl, file };
  },
  text: (result) => (result.file ? `${result.file}: CRL number ${result.number}, ${result.revoked.length} revoked, next update ${result.nextUpdate}` : result.pem),
  json: ({ file, ...crl }) => ({ ...crl, revokedCount: crl.revoked.length, ...(file ? { file } : {}) }),
});
