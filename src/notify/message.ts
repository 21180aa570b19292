import type { NOTIFY_EVENT_NAMES } from '../config/schema.js';
import type { AccessRequest } from '../access/types.js';

export type NotifyEvent = (typeof NOTIFY_EVENT_NAMES)[number];

/** The events the broker's decisions raise (the rest come from the served broker's timer). */
export type DecisionEvent = Extract<NotifyEvent, 'created' | 'approved' | 'denied' | 'revoked'>;

/**
 * Why a request lapsed: `unreviewed`, a request still pending at its pendingUntil (not enough approvals, no
 * denial); `ended`, an approved grant that reached its notAfter without being revoked.
 */
type Lapse = 'unreviewed' | 'ended';

/** One thing to tell, the same for every target it goes to. */
export interface Notice {
  event: NotifyEvent;
  request: AccessRequest;
  /** when it happened (not when it is delivered) */
  at: string;
  /** who caused it: the requester (created), the reviewer (approved, denied), who revoked (revoked) */
  actor?: string;
  lapse?: Lapse;
}

/** The webhook body (document version 1). Fields are added, never renamed. */
export interface WebhookDocument {
  version: 1;
  event: NotifyEvent;
  deliveryId: string;
  at: string;
  actor?: string;
  lapse?: Lapse;
  request: AccessRequest;
  /** the commands that act on it */
  commands: { show: string; approve?: string; deny?: string };
  link?: string;
}

/** What a decision event says about who made it, read from the request as committed. */
export function noticeOf(event: DecisionEvent, request: AccessRequest): Notice {
  switch (event) {
    case 'created':
      return { event, request, at: request.createdAt, actor: request.requester };
    case 'approved': {
      // the review that completed the approvals: the last approval by time
      const last = request.reviews.filter((review) => review.decision === 'approve').at(-1);
      return { event, request, at: request.approvedAt ?? last?.at ?? request.createdAt, ...(last ? { actor: last.reviewer } : {}) };
    }
    case 'denied': {
      const denial = request.reviews.find((review) => review.decision === 'deny');
      return { event, request, at: denial?.at ?? request.createdAt, ...(denial ? { actor: denial.reviewer } : {}) };
    }
    case 'revoked':
      return { event, request, at: request.revokedAt ?? request.createdAt, ...(request.revokedBy ? { actor: request.revokedBy } : {}) };
  }
}

function commandsFor(notice: Notice): WebhookDocument['commands'] {
  const id = notice.request.id;
  const show = `byoc access show ${id}`;
  return notice.event === 'created' ? { approve: `byoc access approve ${id}`, deny: `byoc access deny ${id} --comment "..."`, show } : { show };
}

function linkFor(reviewUrl: string | undefined, id: string): string | undefined {
  return reviewUrl ? reviewUrl.replaceAll('{id}', encodeURIComponent(id)) : undefined;
}

export function webhookDocument(notice: Notice, deliveryId: string, reviewUrl: string | undefined): WebhookDocument {
  const link = linkFor(reviewUrl, notice.request.id);
  return {
    version: 1,
    event: notice.event,
    deliveryId,
    at: notice.at,
    ...(notice.actor ? { actor: notice.actor } : {}),
    ...(notice.lapse ? { lapse: notice.lapse } : {}),
    request: notice.request,
    commands: commandsFor(notice),
    ...(link ? { link } : {}),
  };
}

/** A one-line summary: Slack's notification text (what a phone shows), and the log's words. */
function headline(notice: Notice): string {
  const { request } = notice;
  const who = notice.actor ?? '';
  switch (notice.event) {
    case 'created':
      return `${who} asks for ${request.duration} of access to ${request.service} (${request.id})`;
    case 'approved':
      return `${request.id} for ${request.service} approved by ${who}: ${request.requester} has access until ${request.notAfter ?? '?'}`;
    case 'denied':
      return `${request.id} for ${request.service} denied by ${who}`;
    case 'revoked':
      return `${request.id} for ${request.service} revoked by ${who}`;
    case 'expiring-soon':
      return `${request.requester}'s access to ${request.service} (${request.id}) ends at ${request.notAfter ?? '?'}`;
    case 'lapsed':
      return notice.lapse === 'ended'
        ? `${request.requester}'s access to ${request.service} (${request.id}) ended at ${request.notAfter ?? '?'}`
        : `${request.id} for ${request.service} lapsed unreviewed at ${request.pendingUntil}`;
  }
}

/**
 * Slack's mrkdwn gives `<...>` (links, @channel, user mentions) and `&` a meaning: text a requester wrote (the
 * reason, the ticket) is escaped, so it cannot ping a channel or dress a link as something else.
 */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Block Kit's limits: a section field's text is at most 2000 characters, a section's 3000, a button's 75. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const TITLES: Record<NotifyEvent, string> = {
  created: 'New access request',
  approved: 'Access approved',
  denied: 'Access denied',
  revoked: 'Access revoked',
  'expiring-soon': 'Access ends soon',
  lapsed: 'Access lapsed',
};

/** An incoming-webhook message in Block Kit: a section with the request's fields, a context with the commands, a button when there is a link. */
export function slackMessage(notice: Notice, reviewUrl: string | undefined): Record<string, unknown> {
  const { request } = notice;
  const title = notice.event === 'lapsed' && notice.lapse === 'unreviewed' ? 'Access request lapsed unreviewed' : TITLES[notice.event];
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: clip(`*${label}*\n${value}`, 2000) });
  const fields = [
    field('Request', `\`${request.id}\``),
    field('Service', escapeMrkdwn(request.service)),
    field('Requester', escapeMrkdwn(request.requester)),
    field('Duration', escapeMrkdwn(request.duration)),
    field('State', `${request.status}${notice.actor && notice.event !== 'created' ? ` (by ${escapeMrkdwn(notice.actor)})` : ''}`),
    field('Ticket', request.ticket ? escapeMrkdwn(request.ticket) : '—'),
  ];
  if (request.notAfter && request.status === 'approved') fields.push(field('Ends', request.notAfter));
  const commands = commandsFor(notice);
  const commandLine = [commands.approve && `Approve: \`${commands.approve}\``, commands.deny && `Deny: \`${commands.deny}\``, `Details: \`${commands.show}\``].filter(Boolean).join('  ·  ');
  const link = linkFor(reviewUrl, request.id);
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: { type: 'mrkdwn', text: clip(`*${title}*: ${escapeMrkdwn(headline(notice))}`, 3000) } },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: clip(`*Reason*\n${escapeMrkdwn(request.reason)}`, 3000) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: clip(commandLine, 3000) }] },
  ];
  if (link) {
    blocks.push({
      type: 'actions',
      elements: [{ type: 'button', text: { type: 'plain_text', text: notice.event === 'created' ? 'Review request' : 'Open request' }, url: link, action_id: 'byoc-open-request' }],
    });
  }
  return { text: clip(`${title}: ${escapeMrkdwn(headline(notice))}`, 3000), blocks };
}
