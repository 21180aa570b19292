import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  description: 'Retrieve a short-lived client certificate for an approved request (the key never leaves this machine)',
  examples: ['byoc cert get acme-prod', 'byoc cert get acme-prod --request r-0k3j9x2m1q --json'],
  args: { service: { description: 'the customer service', required: true } },
  options: { request: option.string('--request <id>', 'access.request', 'the approved request to use (default: your newest approved one)') },
  async run({ service, request }, ctx) {
    const { fetchCertificate } = await import('../../src/access/credentials.js');
    const issued = await fetchCertificate(ctx, service, request);
    return {
      service,
      requestId: issued.meta.requestId,
      subject: issued.meta.subject,
      serial: issued.meta.serial,
      notBefore: issued.meta.notBefore,
      notAfter: issued.meta.notAfter,
      fingerprint: issued.meta.fingerprint,
      certPath: issued.certPath,
      keyPath: issued.keyPath,
      caPath: issued.caPath,
    };
  },
  text: (result) => tsv(Object.entries(result)),
  async view(result, render) {
    const { CertificateView } = await import('../../src/ui/views/cert.js');
    return CertificateView({ certificate: { ...result, remainingMs: Date.parse(result.notAfter) - render.now.getTime(), expired: false }, now: render.now, color: render.color, title: 'Certificate issued' });
  },
});
