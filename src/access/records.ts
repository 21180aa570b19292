/**
 * A request as the broker's events make it, and its status at a given time: shared by the broker (replay, lookups,
 * snapshots) and by the lean standing check a query makes (standing.ts), so both answer alike by construction.
 */
import type { BrokerEvent, RequestEvent } from './store.js';
import type { AccessRequest, RequestStatus, TokenInfo } from './types.js';

type Created = Extract<BrokerEvent, { type: 'request.created' }>;

/** @internal the snapshot (snapshot.ts) holds these as they are */
export interface RequestRecord {
  created: Created;
  reviews: { reviewer: string; decision: 'approve' | 'deny'; comment?: string; at: string }[];
  revoked?: { at: string; by: string };
  certificates: { serial: string; notAfter: string; issuedAt: string }[];
}

/** Whether an event is about a request (not a token). */
export function isRequestEvent(event: BrokerEvent): event is RequestEvent {
  return event.type !== 'token.created' && event.type !== 'token.revoked';
}

/** @internal a static token as its events make it (the snapshot holds these as they are) */
export interface TokenRecord {
  id: string;
  identity: string;
  /** SHA-256 of the secret, hex: what a bearer is checked against */
  hash: string;
  groups: string[];
  createdAt: string;
  createdBy?: string;
  expiresAt?: string;
  revoked?: { at: string; by: string };
}

/**
 * The id of a token created before tokens had ids: stable (from its hash, which the log has), and in the same form
 * as a new one. Sixty bits of a SHA-256 of a 256-bit secret say nothing usable about the secret.
 */
function tokenIdOf(tokenHash: string): string {
  return `t-${tokenHash.slice(0, 15)}`;
}

/** One token event's effect on the tokens (by hash); `byId` maps ids to hashes. */
export function applyToken(tokens: Map<string, TokenRecord>, byId: Map<string, string>, event: Extract<BrokerEvent, { type: 'token.created' | 'token.revoked' }>): void {
  if (event.type === 'token.created') {
    const id = event.id ?? tokenIdOf(event.tokenHash);
    tokens.set(event.tokenHash, {
      id,
      identity: event.user,
      hash: event.tokenHash,
      groups: event.groups ?? [],
      createdAt: event.at,
      ...(event.by ? { createdBy: event.by } : {}),
      ...(event.expiresAt ? { expiresAt: event.expiresAt } : {}),
    });
    byId.set(id, event.tokenHash);
    return;
  }
  const hash = byId.get(event.id);
  const record = hash === undefined ? undefined : tokens.get(hash);
  if (record && !record.revoked) record.revoked = { at: event.at, by: event.by };
}

/** A token as listed at time `now` (ms): its state is computed, never stored. */
export function tokenView(record: TokenRecord, now: number, lastUsedAt?: string): TokenInfo {
  const state = record.revoked ? 'revoked' : record.expiresAt && now >= Date.parse(record.expiresAt) ? 'expired' : 'active';
  return {
    id: record.id,
    identity: record.identity,
    groups: record.groups,
    createdAt: record.createdAt,
    ...(record.createdBy ? { createdBy: record.createdBy } : {}),
    ...(record.expiresAt ? { expiresAt: record.expiresAt } : {}),
    ...(lastUsedAt ? { lastUsedAt } : {}),
    ...(record.revoked ? { revokedAt: record.revoked.at, revokedBy: record.revoked.by } : {}),
    state,
  };
}

/** The request a record makes at time `now` (ms): statuses that depend on time are computed here, never stored. */
export function viewOf(record: RequestRecord, now: number): AccessRequest {
  const { created } = record;
  const approvals = record.reviews.filter((review) => review.decision === 'approve');
  const denial = record.reviews.find((review) => review.decision === 'deny');
  const approval = approvals.length >= created.approvalsRequired ? approvals[created.approvalsRequired - 1] : undefined;
  const notAfter = approval ? new Date(Date.parse(approval.at) + created.durationMs).toISOString() : undefined;
  let status: RequestStatus;
  if (record.revoked) status = 'revoked';
  else if (denial) status = 'denied';
  else if (approval) status = now >= Date.parse(notAfter!) ? 'expired' : 'approved';
  else status = now >= Date.parse(created.pendingUntil) ? 'expired' : 'pending';
  return {
    id: created.id,
    service: created.service,
    scopes: created.scopes,
    requester: created.requester,
    reason: created.reason,
    ...(created.ticket ? { ticket: created.ticket } : {}),
    duration: created.duration,
    durationMs: created.durationMs,
    status,
    reviews: record.reviews,
    approvalsRequired: created.approvalsRequired,
    createdAt: created.at,
    pendingUntil: created.pendingUntil,
    ...(approval ? { approvedAt: approval.at, notAfter } : {}),
    ...(record.revoked ? { revokedAt: record.revoked.at, revokedBy: record.revoked.by } : {}),
    certificates: record.certificates,
  };
}

/** One event's effect on the requests (shared by the replay and by a lookup of one request). */
export function applyTo(requests: Map<string, RequestRecord>, event: RequestEvent): void {
  switch (event.type) {
    case 'request.created':
      requests.set(event.id, { created: event, reviews: [], certificates: [] });
      return;
    case 'request.reviewed':
      requests.get(event.id)?.reviews.push({ reviewer: event.reviewer, decision: event.decision, at: event.at, ...(event.comment ? { comment: event.comment } : {}) });
      return;
    case 'request.revoked': {
      const record = requests.get(event.id);
      if (record) record.revoked = { at: event.at, by: event.by };
      return;
    }
    case 'certificate.issued':
      requests.get(event.id)?.certificates.push({ serial: event.serial, notAfter: event.notAfter, issuedAt: event.at });
      return;
  }
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isOptionalString = (value: unknown) => value === undefined || typeof value === 'string';
const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;

/** The text fields each event type must carry. */
const REQUIRED_TEXT: Record<BrokerEvent['type'], readonly string[]> = {
  'request.created': ['at', 'id', 'service', 'requester', 'reason', 'duration', 'pendingUntil'],
  'request.reviewed': ['at', 'id', 'reviewer'],
  'request.revoked': ['at', 'id', 'by'],
  'certificate.issued': ['at', 'id', 'serial', 'notAfter', 'identity'],
  'token.created': ['at', 'user', 'tokenHash'],
  'token.revoked': ['at', 'id', 'by'],
};

/**
 * Why a parsed line is not a broker event, or undefined when it is one. Hand-written rather than a schema
 * library: replay checks every event on each start (100k events within the restart budget), and these typeof
 * tests, which allocate nothing for a good event, cost next to nothing beside JSON.parse.
 */
export function eventProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `expected an object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`;
  const event = value as Record<string, unknown>;
  const type = event.type;
  if (type === undefined) return 'no type';
  const required = typeof type === 'string' && Object.hasOwn(REQUIRED_TEXT, type) ? REQUIRED_TEXT[type as BrokerEvent['type']] : undefined;
  if (!required) return `unknown type ${JSON.stringify(type)}`;
  for (const field of required) {
    if (!isString(event[field])) return `${type} without ${required.filter((name) => !isString(event[name])).join(', ')}`;
  }
  switch (type) {
    case 'request.created':
      if (!Array.isArray(event.scopes) || !event.scopes.every(isString)) return 'request.created without scopes';
      if (!isCount(event.durationMs)) return 'request.created without durationMs';
      if (!isCount(event.approvalsRequired) || (event.approvalsRequired as number) < 1) return 'request.created without approvalsRequired';
      if (!isOptionalString(event.ticket)) return 'request.created with a ticket that is not text';
      return undefined;
    case 'request.reviewed':
      if (event.decision !== 'approve' && event.decision !== 'deny') return 'request.reviewed without a decision (approve or deny)';
      return isOptionalString(event.comment) ? undefined : 'request.reviewed with a comment that is not text';
    case 'request.revoked':
      return isOptionalString(event.comment) ? undefined : 'request.revoked with a comment that is not text';
    case 'token.created':
      if (!isOptionalString(event.id) || !isOptionalString(event.by)) return 'token.created with an id or creator that is not text';
      if (event.expiresAt !== undefined && (!isString(event.expiresAt) || Number.isNaN(Date.parse(event.expiresAt)))) return 'token.created with an expiry that is not a time';
      if (event.groups !== undefined && !(Array.isArray(event.groups) && event.groups.every(isString))) return 'token.created with groups that are not a list of text';
      return undefined;
    default:
      return undefined;
  }
}
