import { defineCommand, option, tsv } from '../../src/command.js';
import { refusalFor, type RequestStanding } from '../../src/access/credentials.js';
import { NotAllowedError } from '../../src/errors.js';
import { summarize, type CertificateSummary } from '../../src/pki/present.js';
import { formatCoarse, formatDuration } from '../../src/util/duration.js';

type Shown = CertificateSummary & { requestStatus: RequestStanding['status']; revokedBy?: string; revokedAt?: string; minRemainingMs: number };

export default defineCommand({
  examples: ['byoc cert show acme-prod', 'byoc cert show acme-prod --min-remaining 15m || byoc cert get acme-prod'],
  args: { service: { description: 'the customer service', required: true } },
  options: {
    minRemaining: option.duration({ flag: '--min-remaining <duration>', key: 'cert.minRemaining', env: 'BYOC_MIN_REMAINING', default: '0s', description: 'exit 4 when less than this remains on the certificate' }),
  },
  async run({ service, minRemaining }, ctx): Promise<Shown> {
    const { storedCertificate, standingOf } = await import('../../src/access/credentials.js');
    const broker = await ctx.client('broker');
    const { identity, stored } = await storedCertificate(ctx, service);
    if (!stored) {
      // Missing is "not allowed" (exit 4) like expired; the hint depends on whether there is anything to get.
      const approved = (await broker.list({ mine: true, service })).find((request) => request.status === 'approved');
      if (approved) {
        throw new NotAllowedError('certificate_not_found', `you (${identity}) hold no certificate for ${service}`, { hint: `Get one for ${approved.id}: byoc cert get ${service}` });
      }
      throw new NotAllowedError('no_access', `you (${identity}) hold no certificate for ${service} and have no approved access to it`, {
        hint: `Request it, then get one: byoc access request ${service} --reason "..."`,
      });
    }
    const { standing } = await standingOf(broker, stored);
    return {
      ...summarize(stored, ctx.clock.now()),
      requestStatus: standing.status,
      ...(standing.revokedBy ? { revokedBy: standing.revokedBy, revokedAt: standing.revokedAt! } : {}),
      minRemainingMs: minRemaining,
    };
  },
  text: ({ minRemainingMs: _ignored, ...shown }) => tsv(Object.entries(shown)),
  async view(result, render) {
    const { CertificateView } = await import('../../src/ui/views/cert.js');
    return CertificateView({ certificate: result, now: render.now, color: render.color });
  },
  outcome(result) {
    const { service } = result;
    const refusal = refusalOf(result);
    if (refusal && result.requestStatus !== 'expired') return refusal;
    if (result.expired) {
      return new NotAllowedError('certificate_expired', `the certificate for ${service} expired at ${result.notAfter}`, {
        hint: `Request access again: byoc access request ${service} --reason "..."`,
      });
    }
    if (refusal) return refusal;
    if (result.remainingMs < result.minRemainingMs) {
      return new NotAllowedError('certificate_expiring', `the certificate for ${service} has ${formatCoarse(result.remainingMs)} left, less than ${formatDuration(result.minRemainingMs)}`, {
        hint: `Get a fresh one while the request lasts (byoc cert get ${service}), or request more time.`,
      });
    }
    return undefined;
  },
});

function refusalOf(result: Shown): NotAllowedError | undefined {
  const standing: RequestStanding = {
    requestId: result.requestId,
    status: result.requestStatus,
    ...(result.revokedBy ? { revokedBy: result.revokedBy, revokedAt: result.revokedAt! } : {}),
  };
  return refusalFor(result.service, standing);
}
