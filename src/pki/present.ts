import { tsv } from '../command.js';
import type { StoredCertificate } from './store.js';

export interface CertificateSummary {
  service: string;
  /** whose certificate it is (its CN): only ever the current identity's */
  identity: string;
  requestId: string;
  subject: string;
  serial: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  remainingMs: number;
  expired: boolean;
  certPath: string;
  keyPath: string;
  caPath: string;
}

export function summarize(stored: StoredCertificate, now: Date): CertificateSummary {
  const remainingMs = Date.parse(stored.meta.notAfter) - now.getTime();
  return {
    service: stored.meta.service,
    identity: stored.meta.identity,
    requestId: stored.meta.requestId,
    subject: stored.meta.subject,
    serial: stored.meta.serial,
    fingerprint: stored.meta.fingerprint,
    notBefore: stored.meta.notBefore,
    notAfter: stored.meta.notAfter,
    remainingMs: Math.max(0, remainingMs),
    expired: remainingMs <= 0,
    certPath: stored.certPath,
    keyPath: stored.keyPath,
    caPath: stored.caPath,
  };
}

export function summaryRows(summaries: readonly CertificateSummary[]): string {
  return tsv(summaries.map((entry) => [entry.service, entry.requestId, entry.subject, entry.notAfter, entry.expired ? 'expired' : 'valid', entry.certPath]));
}
