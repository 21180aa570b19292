import { defineCommand, option, tsv } from '../../src/command.js';

export default defineCommand({
  examples: ['byoc cert get acme-prod', 'byoc cert get acme-prod --request r-0k3j9x2m1q --json', 'byoc cert get acme-prod --renew'],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    request: option.string({ flag: '--request <id>', key: 'access.request', env: 'BYOC_REQUEST', defaultNote: 'your newest approved one', description: 'the approved request to use' }),
    renew: option.boolean({ flag: '--renew', key: 'cert.renew', env: 'BYOC_RENEW', default: false, description: 'a new key and certificate even when the stored one could be reused' }),
  },
  async run({ service, request, renew }, ctx) {
    const { getCertificate } = await import('../../src/access/credentials.js');
    const got = await getCertificate(ctx, service, { ...(request ? { requestId: request } : {}), renew });
    return {
      service,
      identity: got.meta.identity,
      reused: got.reused,
      requestId: got.meta.requestId,
      subject: got.meta.subject,
      serial: got.meta.serial,
      notBefore: got.meta.notBefore,
      notAfter: got.meta.notAfter,
      fingerprint: got.meta.fingerprint,
      certPath: got.certPath,
      keyPath: got.keyPath,
      caPath: got.caPath,
    };
  },
  text: (result) => tsv(Object.entries(result)),
  async view(result, render) {
    const { CertificateView } = await import('../../src/ui/views/cert.js');
    const remainingMs = Date.parse(result.notAfter) - render.now.getTime();
    return CertificateView({
      certificate: { ...result, remainingMs, expired: remainingMs <= 0 },
      now: render.now,
      color: render.color,
      title: result.reused ? 'Certificate reused' : 'Certificate issued',
      note: result.reused ? `still approved with more than a third of its grant left; byoc cert get ${result.service} --renew for a new one` : undefined,
    });
  },
});
