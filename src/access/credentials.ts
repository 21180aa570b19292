import path from 'node:path';
import type { Context } from '../context.js';
import { ByocError, NotAllowedError, RemoteError, reworded } from '../errors.js';
import { formatCoarse } from '../util/duration.js';
import type { BrokerClient } from './client.js';
import type { AccessRequest, RequestStatus } from './types.js';
import type { StoredCertificate } from '../pki/store.js';

const requestAgain = (service: string) => `byoc access request ${service} --reason "..."`;

export interface UsableCertificate extends StoredCertificate {
  request: AccessRequest;
  remainingMs: number;
}

/**
 * Who byoc acts as, and so whose certificates it may use: the configured `user` for the embedded broker, the
 * token's identity for a served one. Always the broker's answer, never a local guess.
 */
export async function currentIdentity(ctx: Context): Promise<string> {
  return (await ctx.client('broker')).whoami();
}

/** The current identity's stored certificate for a service; another identity's is never returned. */
export async function storedCertificate(ctx: Context, service: string): Promise<{ identity: string; stored: StoredCertificate | undefined }> {
  const [identity, { readCertificate }] = await Promise.all([currentIdentity(ctx), import('../pki/store.js')]);
  return { identity, stored: await readCertificate(ctx.stateDir(), identity, service) };
}

/** What the broker says now about the request a certificate was issued for. */
export interface RequestStanding {
  requestId: string;
  /** `unknown`: the broker has no such request (another broker, or its store was reset) */
  status: RequestStatus | 'unknown';
  revokedBy?: string;
  revokedAt?: string;
}

/**
 * Asks the broker about the stored certificate's request. A broker that cannot be asked is a remote failure
 * (exit 5), never taken as "still approved".
 */
export async function standingOf(broker: BrokerClient, stored: StoredCertificate): Promise<{ standing: RequestStanding; request?: AccessRequest }> {
  const requestId = stored.meta.requestId;
  let request: AccessRequest;
  try {
    request = await broker.get(requestId);
  } catch (error) {
    if (error instanceof ByocError && error.code === 'request_not_found') return { standing: { requestId, status: 'unknown' } };
    if (error instanceof RemoteError) {
      throw reworded(error, `cannot ask the broker whether ${requestId} (your certificate for ${stored.meta.service}) is still approved: ${error.message}`);
    }
    throw error;
  }
  return {
    request,
    standing: {
      requestId,
      status: request.status,
      ...(request.revokedBy ? { revokedBy: request.revokedBy } : {}),
      ...(request.revokedAt ? { revokedAt: request.revokedAt } : {}),
    },
  };
}

/** Why a certificate whose request has this standing must not be used, or undefined while it is approved. */
export function refusalFor(service: string, standing: RequestStanding, broker?: string): NotAllowedError | undefined {
  const again = { hint: `Request access again if you still need it: ${requestAgain(service)}` };
  switch (standing.status) {
    case 'approved':
      return undefined;
    case 'revoked':
      return new NotAllowedError('access_revoked', `your access to ${service} (${standing.requestId}) was revoked by ${standing.revokedBy} at ${standing.revokedAt}`, again);
    case 'unknown':
      return new NotAllowedError('request_unknown', `the broker${broker ? ` at ${broker}` : ''} knows no request ${standing.requestId}, the one your certificate for ${service} was issued for`, {
        hint: `Delete it (byoc cert rm ${service}), then request access: ${requestAgain(service)}`,
      });
    default:
      return new NotAllowedError(`access_${standing.status}`, `your request ${standing.requestId} for ${service} is ${standing.status}; its certificate is no longer usable`, again);
  }
}

/**
 * Retrieves a certificate for an approved request: key pair generated here, only the CSR sent.
 * Without `requestId`, uses the newest approved request of this user for the service.
 */
export async function fetchCertificate(ctx: Context, service: string, requestId?: string): Promise<UsableCertificate> {
  return fetchFor(ctx, await currentIdentity(ctx), service, requestId);
}

async function fetchFor(ctx: Context, identity: string, service: string, requestId?: string): Promise<UsableCertificate> {
  const broker = await ctx.client('broker');
  const request = requestId ? await broker.get(requestId) : await newestUsable(broker, service);
  if (request.service !== service) {
    throw new NotAllowedError('wrong_service', `${request.id} is for ${request.service}, not ${service}`, { hint: `byoc cert get ${request.service} --request ${request.id}` });
  }
  if (request.requester !== identity) {
    throw new NotAllowedError('not_requester', `${request.id} was requested by ${request.requester}, not by you (${identity}); a certificate is issued only to the requester`, {
      hint: `Request access for yourself: ${requestAgain(service)}`,
    });
  }
  const [{ generateKeyPairPem, createCsr }, { saveCertificate, certificateMismatch }] = await Promise.all([import('../pki/x509.js'), import('../pki/store.js')]);
  const keys = await generateKeyPairPem();
  const csr = createCsr(keys, [{ name: 'commonName', value: identity }]);
  const issued = await broker.issueCertificate(request.id, csr);
  const problem = certificateMismatch(identity, issued.certificate, keys.privateKeyPem);
  if (problem) {
    throw new RemoteError('certificate_mismatch', `the broker at ${broker.location} answered with a certificate that is not yours: ${problem}`, {
      hint: 'Check that broker.url points at your team’s byoc broker; nothing was stored.',
    });
  }
  const stored = await saveCertificate(ctx.stateDir(), {
    identity,
    service,
    keyPem: keys.privateKeyPem,
    certPem: issued.certificate,
    caPem: issued.ca,
    requestId: issued.requestId,
    serial: issued.serial,
    subject: issued.subject,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    issuedAt: ctx.clock.now().toISOString(),
    broker: broker.location,
  });
  return { ...stored, request, remainingMs: Date.parse(issued.notAfter) - ctx.clock.now().getTime() };
}

/** How long the grant behind a certificate is: approval to end, else the certificate's own lifetime. */
function grantMsOf(request: AccessRequest, stored: StoredCertificate): number {
  if (request.approvedAt && request.notAfter) return Date.parse(request.notAfter) - Date.parse(request.approvedAt);
  return Date.parse(stored.meta.notAfter) - Date.parse(stored.meta.notBefore);
}

/**
 * `byoc cert get`: reuses the stored certificate while its request is still approved and more than a third of
 * the grant is left (issuing one per run would fill the broker's log and the CRL for nothing); otherwise, or with
 * `renew`, a new key and certificate for `requestId` or the newest approved request.
 */
export async function getCertificate(
  ctx: Context,
  service: string,
  options: { requestId?: string; renew?: boolean } = {},
): Promise<UsableCertificate & { reused: boolean }> {
  const { identity, stored } = await storedCertificate(ctx, service);
  if (stored && !options.renew && (!options.requestId || options.requestId === stored.meta.requestId)) {
    const { request } = await standingOf(await ctx.client('broker'), stored);
    const remainingMs = Date.parse(stored.meta.notAfter) - ctx.clock.now().getTime();
    if (request?.status === 'approved' && remainingMs > grantMsOf(request, stored) / 3) return { ...stored, request, remainingMs, reused: true };
  }
  return { ...(await fetchFor(ctx, identity, service, options.requestId)), reused: false };
}

/**
 * The one way every command obtains a usable certificate for a service, always the current identity's. Uses the
 * stored one while its request is still approved and enough time remains; otherwise fetches a new one for an
 * approved request; otherwise says exactly what to do next (request, wait, request again).
 */
export async function obtainCertificate(ctx: Context, service: string, options: { minRemainingMs?: number } = {}): Promise<UsableCertificate> {
  const minRemainingMs = options.minRemainingMs ?? 60_000;
  const lean = await leanUsable(ctx, service, minRemainingMs);
  if (lean) return lean;
  const broker = await ctx.client('broker');
  const { identity, stored } = await storedCertificate(ctx, service);
  const now = ctx.clock.now().getTime();
  let refusal: NotAllowedError | undefined;
  if (stored) {
    const remainingMs = Date.parse(stored.meta.notAfter) - now;
    const { standing, request } = await standingOf(broker, stored);
    if (request?.status === 'approved' && remainingMs > minRemainingMs) return { ...stored, request, remainingMs };
    // A revoked grant is said as such, unless another approved request makes it moot.
    if (standing.status === 'revoked' || standing.status === 'unknown') refusal = refusalFor(service, standing, broker.location);
  }
  const requests = await broker.list({ mine: true, service });
  const approved = requests.find((request) => request.status === 'approved' && Date.parse(request.notAfter!) - now > minRemainingMs);
  if (approved) return fetchFor(ctx, identity, service, approved.id);
  if (refusal) throw refusal;
  const pending = requests.find((request) => request.status === 'pending');
  if (pending) {
    throw new NotAllowedError('access_pending', `your request ${pending.id} for ${service} is still pending approval`, {
      hint: `Wait for it: byoc access wait ${pending.id}`,
    });
  }
  if (stored && Date.parse(stored.meta.notAfter) <= now) {
    throw new NotAllowedError('certificate_expired', `your certificate for ${service} expired at ${stored.meta.notAfter}`, {
      hint: `Request access again: ${requestAgain(service)}`,
    });
  }
  if (stored) {
    const left = Date.parse(stored.meta.notAfter) - now;
    throw new NotAllowedError('certificate_expiring', `your certificate for ${service} has only ${formatCoarse(left)} left`, {
      hint: `Request more time: ${requestAgain(service)}`,
    });
  }
  const latest = requests[0];
  const why = latest && latest.status !== 'approved' ? ` (your latest request ${latest.id} is ${latest.status})` : '';
  throw new NotAllowedError('no_access', `you (${identity}) have no approved access to ${service}${why}`, {
    hint: `Request it, then retry: ${requestAgain(service)}`,
  });
}

/**
 * The usual case of obtainCertificate on the embedded broker, without opening it: the stored certificate of the
 * configured user (the identity connectBroker gives the embedded broker) whose request the snapshot and the log
 * after it show approved, with enough time left (standing.ts says why that is safe). Undefined for everything
 * else, which the broker answers as before: a served broker (an HTTP call already), any refusal, any doubt.
 */
async function leanUsable(ctx: Context, service: string, minRemainingMs: number): Promise<UsableCertificate | undefined> {
  const configuration = await ctx.config();
  const identity = configuration.get<string>('user');
  if (configuration.get<string>('broker.url') || !identity) return undefined;
  const { readCertificate } = await import('../pki/store.js');
  const stored = await readCertificate(ctx.stateDir(), identity, service);
  if (!stored) return undefined;
  const [{ leanRecord }, { viewOf }] = await Promise.all([import('./standing.js'), import('./records.js')]);
  const now = ctx.clock.now().getTime();
  const record = await leanRecord(path.join(ctx.stateDir(), 'broker'), stored.meta.requestId, now);
  if (!record) return undefined;
  const request = viewOf(record, now);
  const remainingMs = Date.parse(stored.meta.notAfter) - now;
  return request.status === 'approved' && remainingMs > minRemainingMs ? { ...stored, request, remainingMs } : undefined;
}

async function newestUsable(broker: BrokerClient, service: string): Promise<AccessRequest> {
  const requests = await broker.list({ mine: true, service });
  const approved = requests.find((request) => request.status === 'approved');
  if (approved) return approved;
  const pending = requests.find((request) => request.status === 'pending');
  if (pending) {
    throw new NotAllowedError('access_pending', `your request ${pending.id} for ${service} is still pending approval`, {
      hint: `Wait for it: byoc access wait ${pending.id}`,
    });
  }
  const latest = requests[0];
  throw new NotAllowedError('no_access', `you have no approved access to ${service}${latest ? ` (your latest request ${latest.id} is ${latest.status})` : ''}`, {
    hint: `Request it first: ${requestAgain(service)}`,
  });
}
