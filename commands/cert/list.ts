import { defineCommand } from '../../src/command.js';
import { summarize, summaryRows } from '../../src/pki/present.js';

export default defineCommand({
  description: 'List stored certificates',
  examples: ['byoc cert list', 'byoc cert list --json | jq ".certificates[] | select(.expired | not)"'],
  async run(_input, ctx) {
    const { listCertificates } = await import('../../src/pki/store.js');
    const now = ctx.clock.now();
    return { certificates: (await listCertificates(ctx.stateDir())).map((stored) => summarize(stored, now)) };
  },
  text: (result) => summaryRows(result.certificates),
  async view(result, render) {
    const { CertificateListView } = await import('../../src/ui/views/cert.js');
    return CertificateListView({ certificates: result.certificates, now: render.now, color: render.color });
  },
});
