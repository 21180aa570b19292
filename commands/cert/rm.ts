import { defineCommand } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

export default defineCommand({
  description: "Delete a service's stored key and certificate",
  examples: ['byoc cert rm acme-prod'],
  args: { service: { description: 'the customer service', required: true } },
  async run({ service }, ctx) {
    const { removeCertificate } = await import('../../src/pki/store.js');
    if (!(await removeCertificate(ctx.stateDir(), service))) {
      throw new UsageError('certificate_not_found', `no certificate is stored for ${service}`, { hint: 'See what is stored: byoc cert list' });
    }
    return { service, removed: true };
  },
  text: (result) => `removed the key and certificate for ${result.service}`,
});
