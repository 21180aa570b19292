import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConfigError, NotAllowedError, UsageError } from '../errors.js';
import type { CertificateAuthority } from '../pki/ca.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { renderOperatorConfig } from './operator.js';
import type { BrokerCrl } from './client.js';
import type { BrokerServices } from './policy.js';
import { EventLog, type BrokerEvent, type StoreOptions } from './store.js';
import {
  SCOPES,
  type AccessRequest,
  type CertificateIssue,
  type ListFilter,
  type NewRequest,
  type OperatorConfig,
  type OperatorFormat,
  type RequestStatus,
} from './types.js';

type Created = Extract<BrokerEvent, { type: 'request.created' }>;

interface RequestRecord {
  created: Created;
  reviews: { reviewer: string; decision: 'approve' | 'deny'; comment?: string; at: string }[];
  revoked?: { at: string; by: string };
  certificates: { serial: string; notAfter: string; issuedAt: string }[];
}

export interface BrokerDeps {
  services: BrokerServices;
  now: () => Date;
  /**
   * The CA, loaded or created on first use (not when the broker opens). The real one creates it under the store
   * lock (loadOrCreateBrokerCa); the broker calls it once and shares the answer.
   */
  ca: () => Promise<CertificateAuthority>;
  store: StoreOptions;
  /**
   * Called (and awaited) once a review has made a request approved, after the decision is committed: the
   * operator step where the broker can apply it (the sandbox). A failure is a warning, never a lost approval.
   */
  onApproved?: (request: AccessRequest) => Promise<void>;
  /** Called once a request has been revoked, after the decision is committed; failures are warnings. */
  onRevoked?: (request: AccessRequest) => Promise<void>;
  /**
   * Server-side expiry: run before broker operations (at most once per {@link SWEEP_INTERVAL_MS}) to remove what
   * ended grants left on the customer's side; failures are warnings.
   */
  sweep?: () => Promise<void>;
}

export const SWEEP_INTERVAL_MS = 1000;

/**
 * The shortest grant. A request, a review, a certificate and a server user for seconds of access help nobody,
 * and a short one is most often a slip (`30s` for `30m`) that would cost an approver a review for nothing.
 */
export const MIN_GRANT_MS = 60_000;

const MAX_REASON = 2000;
const MAX_TICKET = 200;

/**
 * The access lifecycle: request, review by designated approvers, time-bound certificate, revoke.
 * Every rule is enforced here, never by a client; every method takes the authenticated identity.
 * Statuses that depend on time (expiry) are computed on each read and never stored.
 */
export class AccessBroker {
  private readonly requests = new Map<string, RequestRecord>();
  private readonly tokens = new Map<string, string>();
  private log!: EventLog;
  private lastSweep = -Infinity;
  private sweeping: Promise<void> | undefined;
  private caLoading: Promise<CertificateAuthority> | undefined;

  private constructor(private readonly deps: BrokerDeps) {}

  static async open(stateDir: string, deps: BrokerDeps): Promise<AccessBroker> {
    const broker = new AccessBroker(deps);
    broker.log = await EventLog.open(brokerDir(stateDir), (event) => broker.apply(event), deps.store);
    return broker;
  }

  get requestCount(): number {
    return this.requests.size;
  }

  async create(actor: string, input: NewRequest): Promise<AccessRequest> {
    await this.swept();
    const policy = this.deps.services.policy(input.service);
    if (!policy) throw this.unknownService(input.service);
    if (policy.approvers.length === 0) {
      throw new ConfigError('no_approvers', `no approvers are designated for ${input.service}, so no request could ever be approved`, {
        hint: `The broker's operator sets policy.approvers (or services.${input.service}.policy.approvers).`,
      });
    }
    const duration = typeof input.duration === 'string' ? input.duration.trim() : '';
    const durationMs = parseDuration(duration);
    if (durationMs === undefined) {
      throw new UsageError('invalid_duration', `"${String(input.duration)}" is not a duration`, {
        hint: `Use a number and a unit (ms, s, m, h, d), alone or combined: --duration 30m, 2h or 1h30m (at most ${policy.maxDuration} for ${input.service}).`,
      });
    }
    if (durationMs < MIN_GRANT_MS) {
      throw new UsageError('duration_too_short', `a grant must last at least ${formatDuration(MIN_GRANT_MS)}; ${duration} is shorter`, {
        hint: `Ask for --duration ${formatDuration(MIN_GRANT_MS)} or more, e.g. --duration 30m (at most ${policy.maxDuration} for ${input.service}).`,
      });
    }
    if (durationMs > policy.maxDurationMs) {
      throw new NotAllowedError('duration_exceeds_maximum', `a ${duration} grant is longer than the maximum of ${policy.maxDuration} for ${input.service}`, {
        hint: `Ask for --duration ${policy.maxDuration} or less; request again later if you need more time.`,
      });
    }
    const reason = input.reason?.trim() ?? '';
    if (reason === '') throw new UsageError('reason_required', 'a reason is required', { hint: 'Say why with --reason "..." (an incident, a ticket).' });
    if (reason.length > MAX_REASON) throw new UsageError('reason_too_long', `the reason is longer than ${MAX_REASON} characters`);
    if (input.ticket && input.ticket.length > MAX_TICKET) throw new UsageError('ticket_too_long', `the ticket is longer than ${MAX_TICKET} characters`);
    const scopes = input.scopes?.length ? [...new Set(input.scopes)] : [...SCOPES];
    for (const scope of scopes) {
      if (!SCOPES.includes(scope)) throw new UsageError('invalid_scope', `unknown scope "${scope}"`, { hint: `Scopes: ${SCOPES.join(', ')}.` });
    }
    return this.log.transact(() => {
      const now = this.deps.now();
      const event: Created = {
        type: 'request.created',
        at: now.toISOString(),
        id: this.newId(),
        service: input.service,
        scopes,
        requester: actor,
        reason,
        ...(input.ticket ? { ticket: input.ticket } : {}),
        duration,
        durationMs,
        approvalsRequired: policy.approvals,
        pendingUntil: new Date(now.getTime() + policy.pendingTtlMs).toISOString(),
      };
      return { events: [event], result: event.id };
    }).then((id) => this.view(this.requests.get(id)!));
  }

  async get(_actor: string, id: string): Promise<AccessRequest> {
    await this.swept();
    await this.log.refresh();
    return this.view(this.record(id));
  }

  async list(actor: string, filter: ListFilter = {}): Promise<AccessRequest[]> {
    await this.swept();
    await this.log.refresh();
    return [...this.requests.values()]
      .map((record) => this.view(record))
      .filter((request) => !filter.mine || request.requester === actor)
      .filter((request) => !filter.status || request.status === filter.status)
      .filter((request) => !filter.service || request.service === filter.service)
      .filter((request) => !filter.reviewable || this.canReview(actor, request))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(actor: string, id: string, comment?: string): Promise<AccessRequest> {
    await this.swept();
    const request = await this.review(actor, id, 'approve', comment);
    // Only the review that completes the approvals triggers the operator step (earlier ones leave it pending).
    if (request.status === 'approved') await this.notify(this.deps.onApproved, request, 'the operator step');
    return request;
  }

  deny(actor: string, id: string, comment: string): Promise<AccessRequest> {
    if (!comment?.trim()) {
      return Promise.reject(new UsageError('comment_required', 'a denial needs a comment', { hint: 'Tell the requester why: --comment "..."' }));
    }
    return this.review(actor, id, 'deny', comment);
  }

  async revoke(actor: string, id: string, comment?: string): Promise<AccessRequest> {
    await this.swept();
    return this.log.transact(() => {
      const record = this.record(id);
      const request = this.view(record);
      const policy = this.deps.services.policy(request.service);
      if (actor !== request.requester && !policy?.approvers.includes(actor)) {
        throw new NotAllowedError('not_allowed_to_revoke', `${actor} may not revoke ${id}: only its requester or a designated approver can`, {
          hint: `Ask the requester (${request.requester}) or an approver.`,
        });
      }
      if (request.status === 'revoked' || request.status === 'denied' || request.status === 'expired') {
        throw new NotAllowedError('request_closed', `${id} is already ${request.status}`, { hint: 'Nothing to revoke.' });
      }
      const event: BrokerEvent = { type: 'request.revoked', at: this.deps.now().toISOString(), id, by: actor, ...(comment ? { comment } : {}) };
      return { events: [event], result: id };
    })
      .then(() => this.view(this.record(id)))
      .then((request) => this.notify(this.deps.onRevoked, request, 'removing the operator step'));
  }

  /** Runs the sweep hook now (the served broker also calls it on a timer). */
  async sweep(): Promise<void> {
    if (!this.deps.sweep) return;
    this.lastSweep = this.deps.now().getTime();
    this.sweeping ??= this.deps
      .sweep()
      .catch((error: unknown) => this.deps.store.warn(`the expiry sweep failed: ${(error as Error).message}`))
      .finally(() => (this.sweeping = undefined));
    await this.sweeping;
  }

  private async swept(): Promise<void> {
    if (this.deps.sweep && this.deps.now().getTime() - this.lastSweep >= SWEEP_INTERVAL_MS) await this.sweep();
  }

  private async notify(hook: ((request: AccessRequest) => Promise<void>) | undefined, request: AccessRequest, what: string): Promise<AccessRequest> {
    if (!hook) return request;
    try {
      await hook(request);
    } catch (error) {
      const hint = (error as { hint?: string }).hint;
      this.deps.store.warn(`${what} for ${request.id} failed: ${(error as Error).message}${hint ? ` (${hint})` : ''}`);
    }
    return request;
  }

  async issueCertificate(actor: string, id: string, csrPem: string): Promise<CertificateIssue> {
    await this.swept();
    const ca = await this.ca();
    const [{ issueClientCertificate, NOT_BEFORE_SKEW_MS }, { CsrPolicyError, CSR_KEY_POLICY }] = await Promise.all([import('../pki/ca.js'), import('../pki/x509.js')]);
    return this.log.transact(() => {
      const request = this.view(this.record(id));
      if (request.requester !== actor) {
        throw new NotAllowedError('not_requester', `${id} was requested by ${request.requester}; a certificate is issued only to the requester`, {
          hint: `Request access for yourself: byoc access request ${request.service} --reason "..."`,
        });
      }
      this.requireUsable(request);
      const now = this.deps.now();
      let issued;
      try {
        issued = issueClientCertificate(ca, {
          csrPem,
          identity: actor,
          requestId: id,
          notBefore: new Date(now.getTime() - NOT_BEFORE_SKEW_MS),
          notAfter: new Date(request.notAfter!),
        });
      } catch (error) {
        if (error instanceof CsrPolicyError) {
          throw new NotAllowedError(error.code, error.message, {
            hint: `Make the request with ${CSR_KEY_POLICY}: byoc cert get does (EC P-256); with openssl: openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out req.csr -subj "/CN=${actor}"`,
          });
        }
        throw new UsageError('invalid_csr', `the certificate signing request was refused: ${(error as Error).message}`, {
          hint: 'byoc cert get generates a valid request; do not hand-craft one.',
        });
      }
      const event: BrokerEvent = { type: 'certificate.issued', at: now.toISOString(), id, serial: issued.serial, notAfter: issued.notAfter, identity: actor };
      return {
        events: [event],
        result: { requestId: id, certificate: issued.certPem, ca: ca.certPem, serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, subject: issued.subject },
      };
    });
  }

  /** Approved: the request's user to create; revoked or expired: its removal; never approved: refused (exit 4). */
  async operatorConfig(_actor: string, id: string, format: OperatorFormat): Promise<OperatorConfig> {
    await this.swept();
    await this.log.refresh();
    return renderOperatorConfig(this.view(this.record(id)), format);
  }

  async caCertificate(): Promise<string> {
    return (await this.ca()).certPem;
  }

  /**
   * The certificate revocation list, signed by the CA and made fresh on each call: every certificate issued for a
   * revoked request, until a CRL lifetime after it expires (a server whose clock lags still finds it), valid for
   * CRL_LIFETIME_MS. Public, like the CA: it names serials, not people.
   */
  async crl(): Promise<BrokerCrl> {
    await this.log.refresh();
    const ca = await this.ca();
    const { createCrl, crlNumberFor, CRL_LIFETIME_MS, CRL_REASON } = await import('../pki/crl.js');
    // Whole seconds: the CRL's times have no fractions, and the number is derived from the same second.
    const thisUpdate = new Date(Math.floor(this.deps.now().getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_LIFETIME_MS);
    let revocations = 0;
    const revoked: BrokerCrl['revoked'] = [];
    for (const record of this.requests.values()) {
      if (!record.revoked) continue;
      revocations++;
      for (const certificate of record.certificates) {
        if (Date.parse(certificate.notAfter) + CRL_LIFETIME_MS <= thisUpdate.getTime()) continue;
        revoked.push({ serial: certificate.serial, requestId: record.created.id, revokedAt: record.revoked.at });
      }
    }
    revoked.sort((a, b) => a.revokedAt.localeCompare(b.revokedAt) || a.serial.localeCompare(b.serial));
    const number = crlNumberFor(thisUpdate, revocations);
    const pem = createCrl({
      ca,
      thisUpdate,
      nextUpdate,
      number,
      // the grant was withdrawn; the key was never known to be compromised
      revoked: revoked.map((entry) => ({ serialHex: entry.serial, revokedAt: new Date(entry.revokedAt), reason: CRL_REASON.privilegeWithdrawn })),
    });
    return { pem, number, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString(), revoked };
  }

  /** The CA, asked for once: concurrent first uses share one load (or creation). A failure is retried next time. */
  private ca(): Promise<CertificateAuthority> {
    this.caLoading ??= this.deps.ca().catch((error: unknown) => {
      this.caLoading = undefined;
      throw error;
    });
    return this.caLoading;
  }

  /**
   * The CA with its private key, for a deployment this broker operates itself (the sandbox's nginx server
   * certificate). Created exactly once, under the store lock, like every other use of it.
   */
  certificateAuthority(): Promise<CertificateAuthority> {
    return this.ca();
  }

  /** Creates a bearer token for `user`; only its hash is stored. Returned once. */
  async createToken(user: string): Promise<string> {
    if (!user.trim()) throw new UsageError('user_required', 'name the user the token is for');
    const token = `byoc_${randomBytes(32).toString('base64url')}`;
    await this.log.transact(() => ({
      events: [{ type: 'token.created', at: this.deps.now().toISOString(), user, tokenHash: hashToken(token) }],
      result: undefined,
    }));
    return token;
  }

  /** The identity a bearer token stands for, or undefined. Tokens are random 256-bit secrets, so a plain hash is enough. */
  async authenticate(token: string): Promise<string | undefined> {
    const hash = hashToken(token);
    if (!this.tokens.has(hash)) await this.log.refresh();
    return this.tokens.get(hash);
  }

  private review(actor: string, id: string, decision: 'approve' | 'deny', comment?: string): Promise<AccessRequest> {
    return this.log.transact(() => {
      const request = this.view(this.record(id));
      const policy = this.deps.services.policy(request.service);
      if (request.requester === actor) {
        throw new NotAllowedError('self_review', `${actor} requested ${id} and cannot ${decision} it`, {
          hint: `Ask a designated approver: ${(policy?.approvers ?? []).filter((approver) => approver !== actor).join(', ') || '(none configured)'}.`,
        });
      }
      if (!policy?.approvers.includes(actor)) {
        throw new NotAllowedError('not_an_approver', `${actor} is not a designated approver for ${request.service}`, {
          hint: `Approvers for ${request.service}: ${(policy?.approvers ?? []).join(', ') || '(none configured)'}.`,
        });
      }
      if (request.status !== 'pending') {
        const when = request.status === 'expired' && !request.approvedAt ? ` (it lapsed unreviewed at ${request.pendingUntil})` : '';
        throw new NotAllowedError(`request_${request.status}`, `${id} is ${request.status}${when} and can no longer be ${decision === 'approve' ? 'approved' : 'denied'}`, {
          hint: request.status === 'denied' ? 'A denial is final; the requester can open a new request.' : request.status === 'approved' ? 'It needs no further review.' : 'The requester can open a new request.',
        });
      }
      if (request.reviews.some((review) => review.reviewer === actor)) {
        throw new NotAllowedError('already_reviewed', `${actor} has already reviewed ${id}`, {
          hint: `It needs ${request.approvalsRequired} approvals from different approvers.`,
        });
      }
      const event: BrokerEvent = {
        type: 'request.reviewed',
        at: this.deps.now().toISOString(),
        id,
        reviewer: actor,
        decision,
        ...(comment ? { comment } : {}),
      };
      return { events: [event], result: id };
    }).then(() => this.view(this.record(id)));
  }

  private requireUsable(request: AccessRequest): void {
    if (request.status === 'approved') return;
    const hints: Record<Exclude<RequestStatus, 'approved'>, string> = {
      pending: `Wait for approval: byoc access wait ${request.id}`,
      denied: `Open a new request: byoc access request ${request.service} --reason "..."`,
      expired: `Open a new request: byoc access request ${request.service} --reason "..."`,
      revoked: `Open a new request: byoc access request ${request.service} --reason "..."`,
    };
    throw new NotAllowedError(`request_${request.status}`, `${request.id} is ${request.status}; no certificate can be issued for it`, {
      hint: hints[request.status],
    });
  }

  private canReview(actor: string, request: AccessRequest): boolean {
    return (
      request.status === 'pending' &&
      request.requester !== actor &&
      !request.reviews.some((review) => review.reviewer === actor) &&
      (this.deps.services.policy(request.service)?.approvers.includes(actor) ?? false)
    );
  }

  private record(id: string): RequestRecord {
    const record = this.requests.get(id);
    if (!record) {
      throw new UsageError('request_not_found', `no access request ${id}`, { hint: 'List requests with: byoc access list' });
    }
    return record;
  }

  private unknownService(service: string): ConfigError {
    const names = this.deps.services.names();
    return new ConfigError('service_unknown', `the broker knows no service "${service}"`, {
      hint: names.length ? `Known services: ${names.join(', ')}.` : `Configure services.${service} for the broker.`,
    });
  }

  private newId(): string {
    for (;;) {
      const id = `r-${randomBytes(8).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 10)}`;
      if (!this.requests.has(id)) return id;
    }
  }

  private apply(event: BrokerEvent): void {
    switch (event.type) {
      case 'request.created':
        this.requests.set(event.id, { created: event, reviews: [], certificates: [] });
        return;
      case 'request.reviewed':
        this.requests.get(event.id)?.reviews.push({ reviewer: event.reviewer, decision: event.decision, at: event.at, ...(event.comment ? { comment: event.comment } : {}) });
        return;
      case 'request.revoked': {
        const record = this.requests.get(event.id);
        if (record) record.revoked = { at: event.at, by: event.by };
        return;
      }
      case 'certificate.issued':
        this.requests.get(event.id)?.certificates.push({ serial: event.serial, notAfter: event.notAfter, issuedAt: event.at });
        return;
      case 'token.created':
        this.tokens.set(event.tokenHash, event.user);
        return;
    }
  }

  private view(record: RequestRecord): AccessRequest {
    const { created } = record;
    const now = this.deps.now().getTime();
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
}

export function brokerDir(stateDir: string): string {
  return path.join(stateDir, 'broker');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

