import { AccessBroker } from '../../src/access/broker.js';
import { processLockOwner } from '../../src/access/open.js';
import { servicesFromConfig } from '../../src/access/policy.js';
import type { PolicyConfig } from '../../src/config/schema.js';
import { createCa, issueServerCertificate, type CertificateAuthority } from '../../src/pki/ca.js';
import { generateKeyPairPem } from '../../src/pki/x509.js';
import type { FakeClock } from './context.js';

let sharedCa: Promise<CertificateAuthority> | undefined;

/** The CA every test broker signs with (created once per test file). */
export function testBrokerCa(): Promise<CertificateAuthority> {
  sharedCa ??= createCa(new Date('2026-01-01T00:00:00Z')).then(({ ca }) => ca);
  return sharedCa;
}

/**
 * A server certificate and its key from the test broker's CA, for a fake server's names: valid from an hour ago to
 * a day from now, because TLS checks it against the real clock whatever a test's FakeClock says (a fixed end date
 * would fail every such test once the calendar passes it).
 */
export async function testServerKeys(names: string[]): Promise<{ certPem: string; keyPem: string }> {
  const [ca, keys] = await Promise.all([testBrokerCa(), generateKeyPairPem()]);
  const certPem = issueServerCertificate(ca, { publicKeyPem: keys.publicKeyPem, names, notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000) });
  return { certPem, keyPem: keys.privateKeyPem };
}

/** A real broker on a temp state folder with a controllable clock; the CA is shared across tests for speed. */
export async function openTestBroker(stateDir: string, clock: FakeClock, policy: PolicyConfig = {}, services: Record<string, { policy?: PolicyConfig }> = { 'acme-prod': {} }) {
  const warnings: string[] = [];
  const ca = testBrokerCa();
  const broker = await AccessBroker.open(stateDir, {
    services: servicesFromConfig({ policy: { approvers: ['bob@vendor.example', 'carol@vendor.example'], ...policy }, services }),
    now: clock.now,
    ca: () => ca,
    store: { warn: (message) => warnings.push(message), owner: processLockOwner() },
  });
  return { broker, warnings };
}
