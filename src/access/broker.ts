import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ByocError, ConfigError, NotAllowedError, UsageError } from '../errors.js';
import type { CertificateAuthority, IssuedCertificate } from '../pki/ca.js';
import type { SigningThread } from '../pki/signer.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import type { BrokerCrl } from './client.js';
import type { BrokerServices } from './policy.js';
import { CRL_LIFETIME_MS } from '../pki/crl-lifetime.js';
import { applyTo, applyToken, isRequestEvent, tokenView, viewOf, type RequestRecord, type TokenRecord } from './records.js';
import { readSnapshot, SNAPSHOT_VERSION, writeSnapshot, type BrokerSnapshot } from './snapshot.js';
import { EventLog, type BrokerEvent, type StoreOptions } from './store.js';
import type { EventStore, OpenEventStore } from './event-store.js';
import { readSmallFile } from '../util/read.js';
import { writePrivateFile } from '../util/secure-fs.js';
import {
  SCOPES,
  type AccessRequest,
  type Actor,
  type IssuedToken,
  type NewToken,
  type Principal,
  type TokenInfo,
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
   * Opens the store the events live in; by default the JSONL event log in the state folder's broker folder (with
   * `store`'s options). PostgreSQL: src/access/postgres/store.ts.
   */
  openStore?: OpenEventStore;
  /** The folder of the JSONL store, its snapshot and token uses (broker.store); by default the state folder's broker folder. */
  dir?: string;
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
  /** identities that may manage tokens through the served API (`broker.admins`) */
  admins?: readonly string[];
  /** members of this group see every request (`broker.auditorsGroup`, default {@link DEFAULT_AUDITORS_GROUP}) */
  auditorsGroup?: string;
}

export const DEFAULT_AUDITORS_GROUP = 'auditors';

/**
 * How often a served broker writes tokens' last use to disk (tokens-used.json), at most. A token's last use is not
 * a decision: it stays out of the event log (an fsync'd line per request would cost the served broker its
 * throughput and bury the audit trail in noise). The served broker keeps it exact in memory (`token list` through
 * the API) and writes the whole table, one small file, at most once a minute and when it stops: a crash loses at
 * most a minute of "last used", never a decision.
 */
export const TOKEN_USAGE_PERSIST_MS = 60_000;

const TOKEN_USAGE_FILE = 'tokens-used.json';

/** The longest a static token may be valid: a forgotten token must end some day. */
export const MAX_TOKEN_TTL_MS = 365 * 86_400_000;
/** The shortest: below it, the token is most often a slip (`30s` for `30d`). */
const MIN_TOKEN_TTL_MS = 60_000;
/** Group names: what identity providers use (`auditors`, `team:db-oncall`, `cn=ops`), nothing that needs quoting. */
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@=/-]{0,99}$/;
const MAX_GROUPS = 50;

/** The reasons a bearer token is refused. */
export type TokenRefusal = { reason: 'unknown' } | { reason: 'expired' | 'revoked'; token: TokenInfo };

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
  /** token hash -> token */
  /** long-polls waiting for the next decision taken here (untilChange) */
  private readonly decisionWaiters = new Set<() => void>();
  private readonly tokens = new Map<string, TokenRecord>();
  /** token id -> hash */
  private readonly tokenIds = new Map<string, string>();
  /** token id -> last successful authentication (ms), exact in a served broker's memory */
  private readonly lastUsed = new Map<string, number>();
  private usageDirty = false;
  private usageWritten = -Infinity;
  private usageWriting: Promise<void> | undefined;
  /** requests with a revocation: the CRL's number counts them, finished ones included */
  private revocations = 0;
  /** finished requests the snapshot left on disk (not in `requests`); 0 once complete */
  private notLoaded = 0;
  /** whether `requests` holds every request of the log (a full replay), so a miss means there is none */
  private complete = true;
  /** an event for a request not in memory came after the snapshot (a clock that went back): replay everything */
  private needsReplay = false;
  private log!: EventStore;
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
    this.dir = deps.dir ?? brokerDir(stateDir);
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
    const open: OpenEventStore = deps.openStore ?? ((apply, resume) => EventLog.open(broker.dir, apply, deps.store, resume));
    // A store that answers its own queries (PostgreSQL) has no snapshot beside it.
    const found = deps.openStore ? undefined : await readSnapshot(broker.dir);
    // A snapshot from a later time than now (a clock set back) may have put away requests that are live again.
    const usable = found && Date.parse(found.snapshot.asOf) <= deps.now().getTime() ? found.snapshot : undefined;
    broker.log = await open((event) => broker.apply(event), usable && { position: usable.position, load: () => broker.load(usable) }, () => broker.reset());
    // Serving, last uses start from what the previous run wrote; anybody else reads them when listing tokens.
    if (deps.store.hold) await broker.readUsage();
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
    await this.usageWriting;
    if (this.usageDirty) await this.writeUsage().catch((error: unknown) => this.deps.store.warn(`could not write ${TOKEN_USAGE_FILE}: ${(error as Error).message}`));
    await this.signer?.close();
    if (this.deps.store.hold && this.log.snapshots && this.log.position().offset > this.snapshotOffset) await this.snapshot().catch(() => undefined);
    await this.log.close();
  }

  /** The broker's clock (the served broker's rate limiting counts on it too). */
  now(): Date {
    return this.deps.now();
  }

  /** Resolves when another writer may have changed the store (its log grew), for waiters; see EventLog.changed. */
  changed(signal?: AbortSignal): Promise<void> {
    return this.log.changed(signal);
  }

  /**
   * How the timer's notices are sent once across replicas: the store's claim (PostgreSQL), or undefined when this
   * broker is its store's only writer (the notifier remembers them itself).
   */
  noticeClaim(): ((keys: readonly string[]) => Promise<Set<string>>) | undefined {
    const claimOnce = this.log.claimOnce?.bind(this.log);
    return claimOnce ? (keys) => claimOnce(keys, this.deps.now()) : undefined;
  }

  /**
   * Resolves when a decision is taken through this broker, another writer changed the store, `ms` passed or
   * `signal` aborted, whichever is first: what a served broker's long-poll (GET /v1/requests/ID?wait=S) sleeps on.
   * Its own decisions do not show as the store's growth (the served broker is its only writer), hence both.
   */
  async untilChange(ms: number, signal: AbortSignal): Promise<'changed' | 'timeout' | 'stopped'> {
    const round = new AbortController();
    const stop = () => round.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      if (signal.aborted) return 'stopped';
      return await Promise.race([
        this.log.changed(round.signal).then((): 'changed' | 'stopped' => (signal.aborted ? 'stopped' : 'changed')),
        new Promise<'changed'>((resolve) => {
          const wake = () => resolve('changed');
          this.decisionWaiters.add(wake);
          round.signal.addEventListener('abort', () => this.decisionWaiters.delete(wake), { once: true });
        }),
        sleep(ms, 'timeout' as const, { signal: round.signal }).catch(() => 'stopped' as const),
      ]);
    } finally {
      signal.removeEventListener('abort', stop);
      round.abort();
    }
  }


  /** Tells embedded commands on this store which URL serves it (they cannot write while it is held). */
  announce(url: string): Promise<void> {
    return this.log.announce(url);
  }

  async create(caller: Actor, input: NewRequest): Promise<AccessRequest> {
    const actor = identityOf(caller);
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

  async get(caller: Actor, id: string): Promise<AccessRequest> {
    await this.swept();
    await this.refresh();
    await this.loaded(id);
    return this.view(this.visible(caller, id));
  }

  /**
   * The approved requests of a service, for the deployment that operates it (its authority, src/sandbox): not a
   * person, so no visibility rule applies. Approved requests are live, always in memory.
   */
  async approvedFor(service: string): Promise<AccessRequest[]> {
    await this.refresh();
    return [...this.requests.values()].map((record) => this.view(record)).filter((request) => request.service === service && request.status === 'approved');
  }

  async list(caller: Actor, filter: ListFilter = {}): Promise<AccessRequest[]> {
    const actor = identityOf(caller);
    await this.swept();
    await this.refresh();
    // Pending and approved requests are live, always in memory; any other answer needs the finished ones too.
    if (filter.status !== 'pending' && filter.status !== 'approved') await this.completed();
    const sees = this.seer(caller);
    return [...this.requests.values()]
      .filter((record) => sees(record.created))
      .map((record) => this.view(record))
      .filter((request) => !filter.mine || request.requester === actor)
      .filter((request) => !filter.status || request.status === filter.status)
      .filter((request) => !filter.service || request.service === filter.service)
      .filter((request) => !filter.reviewable || this.canReview(actor, request))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async approve(caller: Actor, id: string, comment?: string): Promise<AccessRequest> {
    await this.swept();
    const request = await this.review(caller, id, 'approve', comment);
    // Only the review that completes the approvals triggers the operator step (earlier ones leave it pending).
    if (request.status === 'approved') {
      this.decided('approved', request);
      await this.notify(this.deps.onApproved, request, 'the operator step');
    }
    return request;
  }

  deny(caller: Actor, id: string, comment: string): Promise<AccessRequest> {
    if (!comment?.trim()) {
      return Promise.reject(new UsageError('comment_required', 'a denial needs a comment', { hint: 'Tell the requester why: --comment "..."' }));
    }
    return this.review(caller, id, 'deny', comment).then((request) => this.decided('denied', request));
  }

  async revoke(caller: Actor, id: string, comment?: string): Promise<AccessRequest> {
    const actor = identityOf(caller);
    await this.swept();
    await this.loaded(id);
    return this.transact(() => {
      const record = this.visible(caller, id);
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
    const waiting = [...this.decisionWaiters];
    this.decisionWaiters.clear();
    for (const wake of waiting) wake();
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

  async issueCertificate(caller: Actor, id: string, csrPem: string): Promise<CertificateIssue> {
    const actor = identityOf(caller);
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
      // certificate for a request revoked (or expired) meanwhile is dropped, never logged nor returned. A store shared
      // by replicas (PostgreSQL) is read first: the approval may have come through another one a moment ago.
      await this.refresh();
      const prepared = (() => {
        try {
          return prepareClientCertificate(ca, spec(this.issuable(caller, id)));
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
        this.issuable(caller, id);
        return commit(issued);
      });
    }
    return this.transact(() => {
      const request = this.issuable(caller, id);
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
  private issuable(caller: Actor, id: string): AccessRequest {
    const request = this.view(this.visible(caller, id));
    if (request.requester !== identityOf(caller)) {
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
  async operatorConfig(caller: Actor, id: string, format: OperatorFormat): Promise<OperatorConfig> {
    await this.swept();
    await this.refresh();
    await this.loaded(id);
    // the rendering (12 KB of module) only for this command, not on every broker open
    const { renderOperatorConfig } = await import('./operator.js');
    return renderOperatorConfig(this.view(this.visible(caller, id)), format);
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

  /** Creates a bearer token for `user` (no expiry, no groups); only its hash is stored. Returned once. */
  async createToken(user: string): Promise<string> {
    return (await this.issueToken(undefined, { identity: user })).token;
  }

  /**
   * Creates a bearer token; only its hash is stored and the secret is in this answer only. `by` is who asked (an
   * admin through the served API; the `user` setting, if any, embedded), kept in the log.
   */
  async issueToken(by: string | undefined, input: NewToken): Promise<IssuedToken> {
    const identity = typeof input.identity === 'string' ? input.identity.trim() : '';
    if (!identity) throw new UsageError('user_required', 'name the user the token is for', { hint: 'byoc broker token create alice@vendor.example' });
    let ttlMs: number | undefined;
    if (input.ttl !== undefined) {
      ttlMs = parseDuration(input.ttl);
      if (ttlMs === undefined || ttlMs < MIN_TOKEN_TTL_MS || ttlMs > MAX_TOKEN_TTL_MS) {
        throw new UsageError('invalid_ttl', `--ttl ${input.ttl} is not a duration between ${formatDuration(MIN_TOKEN_TTL_MS)} and ${formatDuration(MAX_TOKEN_TTL_MS)}`, {
          hint: 'Use e.g. --ttl 30d for a person, --ttl 90d for automation (at most 365d); create a new token before it ends.',
        });
      }
    }
    const groups = [...new Set(input.groups ?? [])];
    const badGroup = groups.find((group) => !GROUP_NAME.test(group));
    if (badGroup !== undefined || groups.length > MAX_GROUPS) {
      throw new UsageError('invalid_group', badGroup !== undefined ? `"${badGroup}" is not a group name` : `a token can carry at most ${MAX_GROUPS} groups`, {
        hint: 'Group names are letters, digits and . _ : @ = / - (e.g. --group auditors --group team:db-oncall).',
      });
    }
    const token = `byoc_${randomBytes(32).toString('base64url')}`;
    const tokenHash = hashToken(token);
    const hash = await this.transact(() => {
      const now = this.deps.now();
      let id: string;
      do id = `t-${randomBytes(8).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 12)}`;
      while (this.tokenIds.has(id));
      const event: BrokerEvent = {
        type: 'token.created',
        at: now.toISOString(),
        user: identity,
        tokenHash,
        id,
        ...(ttlMs !== undefined ? { expiresAt: new Date(now.getTime() + ttlMs).toISOString() } : {}),
        ...(groups.length ? { groups } : {}),
        ...(by ? { by } : {}),
      };
      return { events: [event], result: tokenHash };
    });
    return { ...this.tokenInfo(this.tokens.get(hash)!), token };
  }

  /** Every token, newest first: never a secret or a hash. */
  async listTokens(): Promise<TokenInfo[]> {
    await this.refresh();
    if (!this.deps.store.hold) await this.readUsage();
    return [...this.tokens.values()].map((record) => this.tokenInfo(record)).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  /** Revokes token `id`: refused at once by the served broker (401, saying it was revoked). */
  async revokeToken(by: string | undefined, id: string): Promise<TokenInfo> {
    await this.refresh();
    const hash = await this.transact(() => {
      const hash = this.tokenIds.get(id);
      const record = hash === undefined ? undefined : this.tokens.get(hash);
      if (!record) throw new UsageError('token_not_found', `no token ${id}`, { hint: 'List tokens with: byoc broker token list' });
      if (record.revoked) {
        throw new NotAllowedError('token_revoked', `token ${id} (${record.identity}) was already revoked at ${record.revoked.at} by ${record.revoked.by}`, { hint: 'Nothing to revoke.' });
      }
      const event: BrokerEvent = { type: 'token.revoked', at: this.deps.now().toISOString(), id, by: by ?? 'the broker operator' };
      return { events: [event], result: hash! };
    });
    return this.tokenInfo(this.tokens.get(hash)!);
  }

  /** Whether `identity` may manage tokens through the served API. */
  isAdmin(identity: string): boolean {
    return this.deps.admins?.includes(identity) ?? false;
  }

  /**
   * Who a static bearer token stands for, or why it is refused. Tokens are random 256-bit secrets, so a plain hash
   * is enough. The last use is recorded in memory (see {@link TOKEN_USAGE_PERSIST_MS} for when it reaches disk).
   */
  async authenticateToken(token: string): Promise<Principal | TokenRefusal> {
    const hash = hashToken(token);
    if (!this.tokens.has(hash)) await this.refresh();
    const record = this.tokens.get(hash);
    if (!record) return { reason: 'unknown' };
    // Checked in place (no view built): this runs on every call a served broker answers.
    const now = this.deps.now().getTime();
    if (record.revoked) return { reason: 'revoked', token: this.tokenInfo(record) };
    if (record.expiresAt !== undefined && now >= Date.parse(record.expiresAt)) return { reason: 'expired', token: this.tokenInfo(record) };
    this.lastUsed.set(record.id, now);
    this.usageDirty = true;
    if (this.deps.store.hold && now - this.usageWritten >= TOKEN_USAGE_PERSIST_MS) this.writeUsageSoon();
    return { identity: record.identity, groups: record.groups, via: 'token', tokenId: record.id };
  }

  /** The identity a bearer token stands for, or undefined (expired, revoked or unknown). */
  async authenticate(token: string): Promise<string | undefined> {
    const found = await this.authenticateToken(token);
    return 'identity' in found ? found.identity : undefined;
  }

  private tokenInfo(record: TokenRecord): TokenInfo {
    const used = this.lastUsed.get(record.id);
    return tokenView(record, this.deps.now().getTime(), used === undefined ? undefined : new Date(used).toISOString());
  }

  private writeUsageSoon(): void {
    if (this.usageWriting) return;
    this.usageWriting = this.writeUsage()
      .catch((error: unknown) => this.deps.store.warn(`could not write ${TOKEN_USAGE_FILE}: ${(error as Error).message}`))
      .finally(() => (this.usageWriting = undefined));
  }

  private async writeUsage(): Promise<void> {
    this.usageWritten = this.deps.now().getTime();
    this.usageDirty = false;
    const text = JSON.stringify(Object.fromEntries([...this.lastUsed].map(([id, at]) => [id, new Date(at).toISOString()])));
    await writePrivateFile(path.join(this.dir, TOKEN_USAGE_FILE), `${text}\n`);
  }

  /** The last uses on disk (what the served broker last wrote), merged with what this process knows (the later wins). */
  private async readUsage(): Promise<void> {
    let stored: unknown;
    try {
      stored = JSON.parse(await readSmallFile(path.join(this.dir, TOKEN_USAGE_FILE)));
    } catch {
      return;
    }
    if (typeof stored !== 'object' || stored === null) return;
    for (const [id, at] of Object.entries(stored)) {
      const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
      if (Number.isNaN(ms)) continue;
      const known = this.lastUsed.get(id);
      if (known === undefined || known < ms) this.lastUsed.set(id, ms);
    }
  }

  private async review(caller: Actor, id: string, decision: 'approve' | 'deny', comment?: string): Promise<AccessRequest> {
    const actor = identityOf(caller);
    await this.loaded(id);
    return this.transact(() => {
      const request = this.view(this.visible(caller, id));
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
    if (!record) throw notFound(id);
    return record;
  }

  /**
   * Request `id` if `caller` may see it; one they may not is answered exactly as one that does not exist, so ids
   * cannot be probed (and a reason or ticket never reaches someone with no part in the request).
   */
  private visible(caller: Actor, id: string): RequestRecord {
    const record = this.record(id);
    if (!this.seer(caller)(record.created)) throw notFound(id);
    return record;
  }

  /**
   * Who sees a request: its requester, the approvers of its service (who must be able to review it), and members of
   * the auditors group (every request). Anybody else with a token sees nothing of it.
   */
  private seer(caller: Actor): (created: { requester: string; service: string }) => boolean {
    const identity = identityOf(caller);
    if (typeof caller !== 'string' && caller.groups.includes(this.deps.auditorsGroup ?? DEFAULT_AUDITORS_GROUP)) return () => true;
    return (created) => created.requester === identity || (this.deps.services.policy(created.service)?.approvers.includes(identity) ?? false);
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
    if (!isRequestEvent(event)) {
      applyToken(this.tokens, this.tokenIds, event);
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
    for (const token of snapshot.state.tokens) {
      this.tokens.set(token.hash, token);
      this.tokenIds.set(token.id, token.hash);
    }
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
    await this.log.rewind(() => this.reset());
  }

  /** Empties the state the store's events rebuild (before a replay of the whole store). */
  private reset(): void {
    this.requests.clear();
    this.tokens.clear();
    this.tokenIds.clear();
    this.revocations = 0;
    this.notLoaded = 0;
    this.complete = true;
    this.needsReplay = false;
  }

  /**
   * Makes sure request `id` is in memory if the log has it: a finished request the snapshot left on disk is read
   * back from the log's lines that name it (the lines are not all parsed; no full replay).
   */
  private async loaded(id: string): Promise<void> {
    if (this.complete || this.requests.has(id)) return;
    const found = new Map<string, RequestRecord>();
    for (const event of await this.log.scan(JSON.stringify(id))) {
      if (isRequestEvent(event) && event.id === id) applyTo(found, event);
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
    if (!this.log.snapshots) return false;
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
      const state = { requests: live, tokens: [...this.tokens.values()], revocations: this.revocations, total: this.requestCount };
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


function identityOf(caller: Actor): string {
  return typeof caller === 'string' ? caller : caller.identity;
}

function notFound(id: string): UsageError {
  return new UsageError('request_not_found', `no access request ${id}`, { hint: 'List the requests you can see with: byoc access list' });
}
