import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { ByocError, ConfigError, NotAllowedError, UsageError } from '../errors.js';
import type { CertificateAuthority, IssuedCertificate } from '../pki/ca.js';
import type { SigningThread } from '../pki/signer.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import type { BrokerCrl } from './client.js';
import type { BrokerServices } from './policy.js';
import { CRL_LIFETIME_MS } from '../pki/crl-lifetime.js';
import { applyTo, viewOf, type RequestRecord } from './records.js';
import { readSnapshot, SNAPSHOT_VERSION, writeSnapshot, type BrokerSnapshot } from './snapshot.js';
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
   * Told of each decision once it is committed (notifications, src/notify): created, approved (by the review that
   * completes the approvals), denied, revoked. Not awaited: it only queues, so nothing it does delays or fails the
   * decision; a throw is a warning.
   */
  onDecision?: (event: 'created' | 'approved' | 'denied' | 'revoked', request: AccessRequest) => void;
  /**
   * Server-side expiry: run before broker operations (at most once per {@link SWEEP_INTERVAL_MS}) to remove what
   * ended grants left on the customer's side; failures are warnings.
   */
  sweep?: () => Promise<void>;
  /**
   * Where a served broker (store held) checks CSRs and signs certificates: on its signing thread (src/pki/signer.ts)
   * or in the commit's turn on the main thread. By default a thread only on a host with more than 2 cores: on 2,
   * measured with the other core busy, waking the thread for each batch took the core the HTTP thread needed
   * (bench/broker.js, median of 4 interleaved runs: 0.21x bare HTTP with the thread, 0.25x without); on the same
   * host when quiet the two were within noise (0.32-0.34x either way).
   */
  signing?: 'thread' | 'main';
}

export const SWEEP_INTERVAL_MS = 1000;

/**
 * The PKI modules (node-forge behind them), loaded by the first certificate and then kept: an import() of a
 * module already loaded still goes through the module loader (~10 us), on every certificate of a served broker.
 */
let pki: Promise<[typeof import('../pki/ca.js'), typeof import('../pki/x509.js')]> | undefined;

/** StoreOptions.snapshotAfterBytes by default. */
const SNAPSHOT_AFTER_BYTES = 64 * 1024;

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
  /**
   * The requests in memory: every one after a full replay; after resuming from a snapshot only the live ones
   * (see snapshot.ts for which) plus any finished one a get() asked for since.
   */
  private readonly requests = new Map<string, RequestRecord>();
  private readonly tokens = new Map<string, string>();
  /** requests with a revocation: the CRL's number counts them, finished ones included */
  private revocations = 0;
  /** finished requests the snapshot left on disk (not in `requests`); 0 once complete */
  private notLoaded = 0;
  /** whether `requests` holds every request of the log (a full replay), so a miss means there is none */
  private complete = true;
  /** an event for a request not in memory came after the snapshot (a clock that went back): replay everything */
  private needsReplay = false;
  private log!: EventLog & { readonly resumed: boolean };
  private readonly dir: string;
  /** the log offset the newest snapshot (read or written) covers, and that snapshot's size */
  private snapshotOffset = 0;
  private snapshotBytes = 0;
  private snapshotting: Promise<void> | undefined;
  private lastSweep = -Infinity;
  private sweeping: Promise<void> | undefined;
  private caLoading: Promise<CertificateAuthority> | undefined;
  /** the served broker's signing thread (signer.ts), started by the first certificate */
  private signer: SigningThread | undefined;
  private threaded: boolean | undefined;

  private constructor(
    stateDir: string,
    private readonly deps: BrokerDeps,
  ) {
    this.dir = brokerDir(stateDir);
  }

  /**
   * Opens the broker on its store: from the snapshot beside the log plus the log after it when the snapshot is
   * usable, else by replaying the whole log (and then writing a snapshot for the next process, once the log is
   * big enough for that to pay). Holding the store (`store.hold`, the served broker) loads the CA first: creating
   * it takes the store lock, which the broker then keeps.
   */
  static async open(stateDir: string, deps: BrokerDeps): Promise<AccessBroker> {
    const broker = new AccessBroker(stateDir, deps);
    if (deps.store.hold) await broker.ca();
    const found = await readSnapshot(broker.dir);
    // A snapshot from a later time than now (a clock set back) may have put away requests that are live again.
    const usable = found && Date.parse(found.snapshot.asOf) <= deps.now().getTime() ? found.snapshot : undefined;
    broker.log = await EventLog.open(
      broker.dir,
      (event) => broker.apply(event),
      deps.store,
      usable && { position: usable.position, load: () => broker.load(usable) },
    );
    if (broker.log.resumed) {
      broker.snapshotOffset = usable!.position.offset;
      broker.snapshotBytes = found!.bytes;
    }
    await broker.replayIfNeeded();
    if (broker.dueForSnapshot()) await broker.snapshot();
    return broker;
  }

  /** Every request, finished ones included (also those a snapshot left on disk). */
  get requestCount(): number {
    return this.requests.size + this.notLoaded;
  }

  /**
   * Stops using the store: waits for a snapshot being written and, holding the store, writes a last one and
   * lets go of the lock. Only the served broker needs it; an embedded one never holds anything between commits.
   */
  async close(): Promise<void> {
    await this.snapshotting;
    await this.signer?.close();
    if (this.deps.store.hold && this.log.position().offset > this.snapshotOffset) await this.snapshot().catch(() => undefined);
    await this.log.close();
  }

  /** Tells embedded commands on this store which URL serves it (they cannot write while it is held). */
  announce(url: string): Promise<void> {
    return this.log.announce(url);
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
    return this.transact(() => {
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
    }).then((id) => this.decided('created', this.view(this.requests.get(id)!)));
  }

  async get(_actor: string, id: string): Promise<AccessRequest> {
    await this.swept();
    await this.refresh();
    await this.loaded(id);
    return this.view(this.record(id));
  }

  async list(actor: string, filter: ListFilter = {}): Promise<AccessRequest[]> {
    await this.swept();
    await this.refresh();
    // Pending and approved requests are live, always in memory; any other answer needs the finished ones too.
    if (filter.status !== 'pending' && filter.status !== 'approved') await this.completed();
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
    if (request.status === 'approved') {
      this.decided('approved', request);
      await this.notify(this.deps.onApproved, request, 'the operator step');
    }
    return request;
  }

  deny(actor: string, id: string, comment: string): Promise<AccessRequest> {
    if (!comment?.trim()) {
      return Promise.reject(new UsageError('comment_required', 'a denial needs a comment', { hint: 'Tell the requester why: --comment "..."' }));
    }
    return this.review(actor, id, 'deny', comment).then((request) => this.decided('denied', request));
  }

  async revoke(actor: string, id: string, comment?: string): Promise<AccessRequest> {
    await this.swept();
    await this.loaded(id);
    return this.transact(() => {
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
      .then(() => this.decided('revoked', this.view(this.record(id))))
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

  private decided(event: Parameters<NonNullable<BrokerDeps['onDecision']>>[0], request: AccessRequest): AccessRequest {
    try {
      this.deps.onDecision?.(event, request);
    } catch (error) {
      this.deps.store.warn(`notifying ${event} ${request.id} failed: ${(error as Error).message}`);
    }
    return request;
  }

  /** Every request in memory, as of now: the served broker's notification timer (live requests always are). */
  requestsInMemory(): AccessRequest[] {
    return [...this.requests.values()].map((record) => this.view(record));
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
    const [{ issueClientCertificate, prepareClientCertificate, NOT_BEFORE_SKEW_MS }, { CsrPolicyError, CSR_KEY_POLICY, CSR_SIGNATURE_FAILED }] = await (pki ??= Promise.all([import('../pki/ca.js'), import('../pki/x509.js')]));
    await this.loaded(id);
    const refused = (error: unknown) => {
      if (error instanceof CsrPolicyError) {
        return new NotAllowedError(error.code, error.message, {
          hint: `Make the request with ${CSR_KEY_POLICY}: byoc cert get does (EC P-256); with openssl: openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out req.csr -subj "/CN=${actor}"`,
        });
      }
      return new UsageError('invalid_csr', `the certificate signing request was refused: ${(error as Error).message}`, {
        hint: 'byoc cert get generates a valid request; do not hand-craft one.',
      });
    };
    const spec = (request: AccessRequest) => ({
      csrPem,
      identity: actor,
      requestId: id,
      notBefore: new Date(this.deps.now().getTime() - NOT_BEFORE_SKEW_MS),
      notAfter: new Date(request.notAfter!),
    });
    const commit = (issued: IssuedCertificate) => {
      const event: BrokerEvent = { type: 'certificate.issued', at: this.deps.now().toISOString(), id, serial: issued.serial, notAfter: issued.notAfter, identity: actor };
      return {
        events: [event],
        result: { requestId: id, certificate: issued.certPem, ca: ca.certPem, serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, subject: issued.subject },
      };
    };
    if (this.deps.store.hold && (await this.signsOnThread())) {
      // Serving, the state in memory is the store's (nobody else writes): the request is checked, the CSR checked and
      // the certificate signed on the signing thread, then the request is checked again in the commit's turn; a
      // certificate for a request revoked (or expired) meanwhile is dropped, never logged nor returned.
      const prepared = (() => {
        try {
          return prepareClientCertificate(ca, spec(this.issuable(actor, id)));
        } catch (error) {
          throw error instanceof ByocError ? error : refused(error);
        }
      })();
      const signature = await (await this.signingThread(ca)).sign(prepared.proof, prepared.tbs).catch((error: unknown) => {
        // a CSR whose signature does not verify is the requester's mistake; a lost thread is the broker's (5xx)
        throw error instanceof Error && error.message === CSR_SIGNATURE_FAILED ? refused(error) : error;
      });
      const issued = prepared.finish(signature);
      return this.transact(() => {
        this.issuable(actor, id);
        return commit(issued);
      });
    }
    return this.transact(() => {
      const request = this.issuable(actor, id);
      let issued;
      try {
        issued = issueClientCertificate(ca, spec(request));
      } catch (error) {
        throw refused(error);
      }
      return commit(issued);
    });
  }

  /** The request `id` if `actor` may have a certificate for it now (its requester, approved and not expired). */
  private issuable(actor: string, id: string): AccessRequest {
    const request = this.view(this.record(id));
    if (request.requester !== actor) {
      throw new NotAllowedError('not_requester', `${id} was requested by ${request.requester}; a certificate is issued only to the requester`, {
        hint: `Request access for yourself: byoc access request ${request.service} --reason "..."`,
      });
    }
    this.requireUsable(request);
    return request;
  }

  private async signsOnThread(): Promise<boolean> {
    this.threaded ??= this.deps.signing ? this.deps.signing === 'thread' : (await import('node:os')).availableParallelism() > 2;
    return this.threaded;
  }

  private async signingThread(ca: CertificateAuthority): Promise<SigningThread> {
    // loaded with the rest of the PKI code, only by a broker that signs
    if (this.signer) return this.signer;
    const { SigningThread } = await import('../pki/signer.js');
    this.signer ??= new SigningThread(ca.key);
    return this.signer;
  }

  /** Approved: the request's user to create; revoked or expired: its removal; never approved: refused (exit 4). */
  async operatorConfig(_actor: string, id: string, format: OperatorFormat): Promise<OperatorConfig> {
    await this.swept();
    await this.refresh();
    await this.loaded(id);
    // the rendering (12 KB of module) only for this command, not on every broker open
    const { renderOperatorConfig } = await import('./operator.js');
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
    await this.refresh();
    const ca = await this.ca();
    const { createCrl, crlNumberFor, CRL_REASON } = await import('../pki/crl.js');
    // Whole seconds: the CRL's times have no fractions, and the number is derived from the same second.
    const thisUpdate = new Date(Math.floor(this.deps.now().getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_LIFETIME_MS);
    const revoked: BrokerCrl['revoked'] = [];
    // A request left on disk by the snapshot owes the CRL nothing (snapshot.ts keeps those that do in memory).
    for (const record of this.requests.values()) {
      if (!record.revoked) continue;
      for (const certificate of record.certificates) {
        if (Date.parse(certificate.notAfter) + CRL_LIFETIME_MS <= thisUpdate.getTime()) continue;
        revoked.push({ serial: certificate.serial, requestId: record.created.id, revokedAt: record.revoked.at });
      }
    }
    revoked.sort((a, b) => a.revokedAt.localeCompare(b.revokedAt) || a.serial.localeCompare(b.serial));
    const number = crlNumberFor(thisUpdate, this.revocations);
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
    await this.transact(() => ({
      events: [{ type: 'token.created', at: this.deps.now().toISOString(), user, tokenHash: hashToken(token) }],
      result: undefined,
    }));
    return token;
  }

  /** The identity a bearer token stands for, or undefined. Tokens are random 256-bit secrets, so a plain hash is enough. */
  async authenticate(token: string): Promise<string | undefined> {
    const hash = hashToken(token);
    if (!this.tokens.has(hash)) await this.refresh();
    return this.tokens.get(hash);
  }

  private async review(actor: string, id: string, decision: 'approve' | 'deny', comment?: string): Promise<AccessRequest> {
    await this.loaded(id);
    return this.transact(() => {
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
    // Checked against the requests in memory only (a snapshot leaves finished ones on disk): with 51 random bits
    // per id, meeting one of even 100k old ids is a one in 10^10 chance, not worth a scan of the log per request.
    for (;;) {
      const id = `r-${randomBytes(8).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 10)}`;
      if (!this.requests.has(id)) return id;
    }
  }

  private apply(event: BrokerEvent): void {
    if (event.type === 'token.created') {
      this.tokens.set(event.tokenHash, event.user);
      return;
    }
    if (event.type !== 'request.created' && !this.complete && !this.requests.has(event.id)) {
      // A decision on a request the snapshot put away as finished: only a writer whose clock is behind ours
      // makes one. Rather than guess its effect, the whole log is replayed before the next answer.
      this.needsReplay = true;
      return;
    }
    const record = this.requests.get(event.id);
    // what the CRL's number counts: requests that are revoked (a re-created id, only ever in a hand-made log, is not)
    if (event.type === 'request.revoked' && record && !record.revoked) this.revocations++;
    if (event.type === 'request.created' && record?.revoked) this.revocations--;
    applyTo(this.requests, event);
  }

  /** Installs a snapshot's state (EventLog.open calls it once the log is checked to still hold what it covers). */
  private load(snapshot: BrokerSnapshot): void {
    for (const record of snapshot.state.requests) this.requests.set(record.created.id, record);
    for (const [hash, user] of snapshot.state.tokens) this.tokens.set(hash, user);
    this.revocations = snapshot.state.revocations;
    this.notLoaded = snapshot.state.total - snapshot.state.requests.length;
    this.complete = this.notLoaded === 0;
  }

  private async refresh(): Promise<void> {
    await this.log.refresh();
    await this.replayIfNeeded();
  }

  private async replayIfNeeded(): Promise<void> {
    if (!this.needsReplay) return;
    await this.completed();
    // The snapshot on disk leads every reader into the same replay: count it as missing, so a new one is written.
    this.snapshotOffset = 0;
    this.snapshotBytes = 0;
  }

  /** Every request in memory: the whole log replayed once (what list() of finished requests needs). */
  private async completed(): Promise<void> {
    if (this.complete && !this.needsReplay) return;
    await this.log.rewind(() => {
      this.requests.clear();
      this.tokens.clear();
      this.revocations = 0;
      this.notLoaded = 0;
      this.complete = true;
      this.needsReplay = false;
    });
  }

  /**
   * Makes sure request `id` is in memory if the log has it: a finished request the snapshot left on disk is read
   * back from the log's lines that name it (the lines are not all parsed; no full replay).
   */
  private async loaded(id: string): Promise<void> {
    if (this.complete || this.requests.has(id)) return;
    const found = new Map<string, RequestRecord>();
    for (const event of await this.log.scan(JSON.stringify(id))) {
      if (event.type !== 'token.created' && event.id === id) applyTo(found, event);
    }
    const record = found.get(id);
    if (record && !this.requests.has(id)) {
      this.requests.set(id, record);
      this.notLoaded--;
    }
  }

  private transact<T>(decide: () => { events: BrokerEvent[]; result: T }): Promise<T> {
    const committed = this.log.transact(decide);
    // The served broker writes snapshots as its log grows, in the background: acknowledging never waits for one.
    if (this.deps.store.hold) void committed.then(() => this.snapshotSoon(), () => undefined);
    return committed;
  }

  /**
   * Whether the log has grown past the snapshot by the threshold. While serving, also by at least the snapshot's
   * own size: a snapshot costs its size to write, so with many live requests it is rewritten less often, and the
   * served broker never spends more on snapshots than on the log itself (not quadratic in the live requests).
   */
  private dueForSnapshot(serving = false): boolean {
    const ahead = this.log.position().offset - this.snapshotOffset;
    return ahead > 0 && ahead >= Math.max(this.deps.store.snapshotAfterBytes ?? SNAPSHOT_AFTER_BYTES, serving ? this.snapshotBytes : 0);
  }

  private snapshotSoon(): void {
    if (this.snapshotting || !this.dueForSnapshot(true)) return;
    this.snapshotting = this.snapshot()
      .catch((error: unknown) => this.deps.store.warn(`could not write the broker snapshot: ${(error as Error).message}`))
      .finally(() => (this.snapshotting = undefined));
  }

  /**
   * Writes a snapshot of the state as of the log's current position. Taken in the log's turn, so no commit is
   * half-applied (events in memory but not yet on disk) when the state is copied. Requests that are finished now
   * and owe the CRL nothing stay out of it: they are final whatever happens later (see snapshot.ts).
   */
  private async snapshot(): Promise<void> {
    const taken = await this.log.atRest((position) => {
      const now = this.deps.now();
      const live: RequestRecord[] = [];
      for (const record of this.requests.values()) if (!this.finished(record, now.getTime())) live.push(record);
      const state = { requests: live, tokens: [...this.tokens], revocations: this.revocations, total: this.requestCount };
      // serialised here, in the turn: the records are mutated in place by later events
      return { position, text: JSON.stringify({ version: SNAPSHOT_VERSION, asOf: now.toISOString(), position, state }) };
    });
    await writeSnapshot(this.dir, taken.text);
    if (taken.position.offset >= this.snapshotOffset) {
      this.snapshotOffset = taken.position.offset;
      this.snapshotBytes = Buffer.byteLength(taken.text);
    }
  }

  /**
   * Whether a request can be left out of a snapshot: denied, expired, or revoked with every certificate past the
   * CRL's reach (a second of margin: the CRL's thisUpdate is rounded down to the second). None of these can
   * change again: no review, revocation or certificate is accepted for them at this time or later.
   */
  private finished(record: RequestRecord, now: number): boolean {
    const { status } = this.view(record);
    if (status === 'denied' || status === 'expired') return true;
    if (status !== 'revoked') return false;
    return record.certificates.every((certificate) => Date.parse(certificate.notAfter) + CRL_LIFETIME_MS + 1000 <= now);
  }

  private view(record: RequestRecord): AccessRequest {
    return viewOf(record, this.deps.now().getTime());
  }
}

export function brokerDir(stateDir: string): string {
  return path.join(stateDir, 'broker');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

