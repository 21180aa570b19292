import { defineCommand } from '../../src/command.js';
import { summarize, summaryRows } from '../../src/pki/present.js';

export default defineCommand({
  examples: ['byoc cert list', 'byoc cert list --json | jq ".certificates[] | select(.expired | not)"'],
  async run(_input, ctx) {
    const [{ currentIdentity }, { listCertificates, legacyCertificateDirs }] = await Promise.all([import('../../src/access/credentials.js'), import('../../src/pki/store.js')]);
    const identity = await currentIdentity(ctx);
    const legacy = await legacyCertificateDirs(ctx.stateDir());
    if (legacy.length > 0) {
      // The old layout recorded no owner: such files could be anyone's, so they are never used, only pointed at.
      ctx.log.warn(
        `ignoring ${legacy.length === 1 ? 'a certificate' : `${legacy.length} certificates`} stored by an older byoc without an owner (never used): ${legacy.join(', ')}; delete ${legacy.length === 1 ? 'it' : 'them'} with: ${legacy.map((dir) => `rm ${dir}/*.pem ${dir}/meta.json`).join('; ')}`,
      );
    }
    const now = ctx.clock.now();
    const certificates = (await listCertificates(ctx.stateDir(), identity)).map((stored) => summarize(stored, now));
    // With nothing stored, the view says how to get one for a service that exists here.
    const services = certificates.length === 0 ? Object.keys((await ctx.config()).services()) : [];
    return { identity, certificates, services };
  },
  json: ({ identity, certificates }) => ({ identity, certificates }),
  text: (result) => summaryRows(result.certificates),
  async view(result, render) {
    const { CertificateListView } = await import('../../src/ui/views/cert.js');
    return CertificateListView({ identity: result.identity, certificates: result.certificates, services: result.services, now: render.now, color: render.color });
  },
});
