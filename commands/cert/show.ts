import { defineCommand, option } from '../../src/command.js';
import { NotAllowedError, UsageError } from '../../src/errors.js';
import { summarize, summaryText, type CertificateSummary } from '../../src/pki/present.js';
import { formatDuration } from '../../src/util/duration.js';

export default defineCommand({
  description: 'Show the stored certificate for a service; exit 4 when it is expired or has less than --min-remaining left',
  examples: ['byoc cert show acme-prod', 'byoc cert show acme-prod --min-remaining 15m || byoc cert get acme-prod'],
  args: { service: { description: 'the customer service', required: true } },
  options: { minRemaining: option.duration('--min-remaining <duration>', 'cert.minRemaining', 'exit 4 when less than this remains') },
  async run({ service, minRemaining }, ctx): Promise<CertificateSummary & { minRemainingMs: number }> {
    const { readCertificate } = await import('../../src/pki/store.js');
    const stored = await readCertificate(ctx.stateDir(), service);
    if (!stored) {
      throw new UsageError('certificate_not_found', `no certificate is stored for ${service}`, { hint: `Get one: byoc cert get ${service}` });
    }
    return { ...summarize(stored, ctx.clock.now()), minRemainingMs: minRemaining ?? 0 };
  },
  text: ({ minRemainingMs: _ignored, ...summary }) => summaryText(summary),
  async view(result, render) {
    const { CertificateView } = await import('../../src/ui/views/cert.js');
    return CertificateView({ certificate: result, now: render.now, color: render.color });
  },
  outcome(result) {
    if (result.expired) {
      return new NotAllowedError('certificate_expired', `the certificate for ${result.service} expired at ${result.notAfter}`, {
        hint: `Request access again: byoc access request ${result.service} --reason "..."`,
      });
    }
    if (result.remainingMs < result.minRemainingMs) {
      return new NotAllowedError('certificate_expiring', `the certificate for ${result.service} has ${formatDuration(result.remainingMs)} left, less than ${formatDuration(result.minRemainingMs)}`, {
        hint: `Get a fresh one while the request lasts (byoc cert get ${result.service}), or request more time.`,
      });
    }
    return undefined;
  },
});
