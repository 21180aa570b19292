import type { Context } from '../context.js';
import { NotAllowedError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import type { BrokerClient } from './client.js';
import type { AccessRequest } from './types.js';
import type { StoredCertificate } from '../pki/store.js';

const requestAgain = (service: string) => `byoc access request ${service} --reason "..."`;

export interface UsableCertificate extends StoredCertificate {
  request: AccessRequest;
  remainingMs: number;
}

/**
 * Retrieves a certificate for an approved request: key pair generated here, only the CSR sent.
 * Without `requestId`, uses the newest approved request of this user for the service.
 */
export async function fetchCertificate(ctx: Context, service: string, requestId?: string): Promise<UsableCertificate> {
  const broker = await ctx.client('broker');
  const request = requestId ? await broker.get(requestId) : await newestUsable(broker, service);
  if (request.service !== service) {
    throw new NotAllowedError('wrong_service', `${request.id} is for ${request.service}, not ${service}`, { hint: `byoc cert get ${request.service} --request ${request.id}` });
  }
  const [{ generateKeyPairPem, createCsr }, { saveCertificate }] = await Promise.all([import('../pki/x509.js'), import('../pki/store.js')]);
  const identity = await broker.whoami();
  const keys = await generateKeyPairPem();
  const csr = createCsr(keys, [{ name: 'commonName', value: identity }]);
  const issued = await broker.issueCertificate(request.id, csr);
  const stored = await saveCertificate(ctx.stateDir(), {
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

/**
 * The one way every command obtains a usable certificate for a service. Uses the stored one while its
 * request is still approved and enough time remains; otherwise fetches a new one for an approved request;
 * otherwise says exactly what to do next (request, wait, request again).
 */
export async function obtainCertificate(ctx: Context, service: string, options: { minRemainingMs?: number } = {}): Promise<UsableCertificate> {
  const minRemainingMs = options.minRemainingMs ?? 60_000;
  const { readCertificate } = await import('../pki/store.js');
  const broker = await ctx.client('broker');
  const stored = await readCertificate(ctx.stateDir(), service);
  const now = ctx.clock.now().getTime();
  if (stored) {
    const remainingMs = Date.parse(stored.meta.notAfter) - now;
    const request = await broker.get(stored.meta.requestId);
    if (request.status === 'revoked') {
      throw new NotAllowedError('access_revoked', `your access to ${service} (${request.id}) was revoked by ${request.revokedBy} at ${request.revokedAt}`, {
        hint: `Request access again if you still need it: ${requestAgain(service)}`,
      });
    }
    if (request.status === 'approved' && remainingMs > minRemainingMs) return { ...stored, request, remainingMs };
  }
  const requests = await broker.list({ mine: true, service });
  const approved = requests.find((request) => request.status === 'approved' && Date.parse(request.notAfter!) - now > minRemainingMs);
  if (approved) return fetchCertificate(ctx, service, approved.id);
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
    throw new NotAllowedError('certificate_expiring', `your certificate for ${service} has only ${formatDuration(left)} left`, {
      hint: `Request more time: ${requestAgain(service)}`,
    });
  }
  const latest = requests[0];
  const why = latest && latest.status !== 'approved' ? ` (your latest request ${latest.id} is ${latest.status})` : '';
  throw new NotAllowedError('no_access', `you have no approved access to ${service}${why}`, {
    hint: `Request it, then retry: ${requestAgain(service)}`,
  });
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
