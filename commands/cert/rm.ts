import { defineCommand } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  examples: ['byoc cert rm acme-prod'],
  args: { service: { description: 'the customer service', required: true } },
  async run({ service }, ctx) {
    const [{ currentIdentity }, { removeCertificate }] = await Promise.all([import('../../src/access/credentials.js'), import('../../src/pki/store.js')]);
    const identity = await currentIdentity(ctx);
    if (!(await removeCertificate(ctx.stateDir(), identity, service))) {
      throw new UsageError('certificate_not_found', `you (${identity}) hold no certificate for ${service}`, { hint: 'See what is stored: byoc cert list' });
    }
    return { service, identity, removed: true };
  },
  text: (result) => `removed the key and certificate for ${result.service} (${result.identity})`,
});
