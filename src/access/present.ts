import { NotAllowedError, PendingError, type ByocError } from '../errors.js';
import { tsv, type RenderContext } from '../command.js';
import type { AccessRequest } from './types.js';

/** `field<TAB>value` lines for one request, for pipes. */
export function requestText(request: AccessRequest): string {
  return tsv([
    ['id', request.id],
    ['status', request.status],
    ['service', request.service],
    ['scopes', request.scopes.join(',')],
    ['requester', request.requester],
    ['reason', request.reason],
    ['ticket', request.ticket ?? ''],
    ['duration', request.duration],
    ['createdAt', request.createdAt],
    ['pendingUntil', request.pendingUntil],
    ['approvedAt', request.approvedAt ?? ''],
    ['notAfter', request.notAfter ?? ''],
    ['revokedAt', request.revokedAt ?? ''],
    ...request.reviews.map((review) => ['review', `${review.decision} by ${review.reviewer} at ${review.at}${review.comment ? `: ${review.comment}` : ''}`]),
  ]);
}

export function requestRows(requests: readonly AccessRequest[]): string {
  return tsv(requests.map((request) => [request.id, request.status, request.service, request.requester, request.createdAt, request.notAfter ?? '', request.ticket ?? '', request.reason]));
}

/** What a printed request means for the exit code: 0 approved, 8 still pending, 4 denied / lapsed / revoked. */
export function requestOutcome(request: AccessRequest): ByocError | undefined {
  switch (request.status) {
    case 'approved':
      return undefined;
    case 'pending':
      return new PendingError('request_pending', `${request.id} is pending approval (it lapses at ${request.pendingUntil})`, {
        hint: `Wait for the decision: byoc access wait ${request.id}`,
      });
    case 'denied': {
      const denial = request.reviews.find((review) => review.decision === 'deny');
      return new NotAllowedError('request_denied', `${request.id} was denied by ${denial?.reviewer}${denial?.comment ? `: ${denial.comment}` : ''}`, {
        hint: `A denial is final. Open a new request if the situation changed: byoc access request ${request.service} --reason "..."`,
      });
    }
    case 'expired':
      return new NotAllowedError('request_expired', request.approvedAt ? `${request.id} expired at ${request.notAfter}` : `${request.id} lapsed unreviewed at ${request.pendingUntil}`, {
        hint: `Open a new request: byoc access request ${request.service} --reason "..."`,
      });
    case 'revoked':
      return new NotAllowedError('request_revoked', `${request.id} was revoked by ${request.revokedBy} at ${request.revokedAt}`, {
        hint: `Open a new request: byoc access request ${request.service} --reason "..."`,
      });
  }
}

/** The TTY view of one request (ink is loaded only when a terminal shows it). */
export async function requestView(request: AccessRequest, render: RenderContext) {
  const { RequestView } = await import('../ui/views/access.js');
  return RequestView({ request, now: render.now, color: render.color });
}
