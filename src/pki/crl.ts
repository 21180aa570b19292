/**
 * X.509 v2 certificate revocation lists (RFC 5280, section 5). node-forge reads and writes certificates and CSRs
 * but has no CRL support at all, so the structure is assembled here with its ASN.1 toolkit, the same way x509.ts
 * builds certificates, and node's crypto signs it with the CA key.
 */
import forge from 'node-forge';
import type { CertificateAuthority } from './ca.js';
import { algorithmIdentifier, nameToAsn1, signed, timeAsn1, toPem } from './x509.js';

const { asn1 } = forge;

export { CRL_LIFETIME_MS } from './crl-lifetime.js';

/** RFC 5280 CRLReason values byoc uses. */
export const CRL_REASON = { cessationOfOperation: 5, privilegeWithdrawn: 9 } as const;

interface RevokedCertificate {
  serialHex: string;
  revokedAt: Date;
  /** an RFC 5280 CRLReason; absent means unspecified */
  reason?: number;
}

export interface CrlSpec {
  ca: Pick<CertificateAuthority, 'key' | 'subject' | 'keyIdHex'>;
  thisUpdate: Date;
  nextUpdate: Date;
  /** the cRLNumber extension: must grow from one CRL to the next */
  number: number;
  revoked: RevokedCertificate[];
}

const OID = {
  authorityKeyIdentifier: '2.5.29.35',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
} as const;

// Bits of the cRLNumber left for the revocation count, below the seconds: 2^21 keeps it a safe integer to 2106.
const REVOCATION_BITS = 2 ** 21;

/**
 * The cRLNumber for a CRL made at `thisUpdate` listing the effect of `revocations` revocations: seconds since the
 * epoch times 2^21, plus the revocation count (modulo 2^21). It grows with time and with every revoke, so two CRLs
 * with different content or a different thisUpdate never share a number (RFC 5280, 5.2.3), and any process
 * derives the same number from the same log without keeping a counter. It goes backwards only if the broker's
 * clock does.
 */
export function crlNumberFor(thisUpdate: Date, revocations: number): number {
  return Math.floor(thisUpdate.getTime() / 1000) * REVOCATION_BITS + (revocations % REVOCATION_BITS);
}

/** A signed v2 CRL, PEM. */
export function createCrl(spec: CrlSpec): string {
  const { UNIVERSAL, CONTEXT_SPECIFIC } = asn1.Class;
  const { Type } = asn1;
  const sequence = (value: forge.asn1.Asn1[]) => asn1.create(UNIVERSAL, Type.SEQUENCE, true, value);
  const entries = spec.revoked.map((entry) =>
    sequence([
      asn1.create(UNIVERSAL, Type.INTEGER, false, integerBytes(BigInt(`0x${entry.serialHex}`))),
      timeAsn1(entry.revokedAt),
      ...(entry.reason === undefined ? [] : [sequence([extension(OID.reasonCode, asn1.create(UNIVERSAL, Type.ENUMERATED, false, integerBytes(BigInt(entry.reason))))])]),
    ]),
  );
  const tbs = sequence([
    // v2 (the INTEGER 1): required with extensions
    asn1.create(UNIVERSAL, Type.INTEGER, false, integerBytes(1n)),
    algorithmIdentifier(spec.ca.key),
    // Encoded exactly as the certificates' issuer (nameToAsn1 of the same attributes), so the names match byte for byte.
    nameToAsn1(spec.ca.subject),
    timeAsn1(spec.thisUpdate),
    timeAsn1(spec.nextUpdate),
    // RFC 5280: an empty list is omitted, not encoded as an empty SEQUENCE.
    ...(entries.length ? [sequence(entries)] : []),
    asn1.create(CONTEXT_SPECIFIC, 0, true, [
      sequence([
        extension(OID.authorityKeyIdentifier, sequence([asn1.create(CONTEXT_SPECIFIC, 0, false, forge.util.hexToBytes(spec.ca.keyIdHex))])),
        extension(OID.cRLNumber, asn1.create(UNIVERSAL, Type.INTEGER, false, integerBytes(BigInt(spec.number)))),
      ]),
    ]),
  ]);
  return toPem('X509 CRL', signed(tbs, spec.ca.key));
}

/** PEM to DER (for `application/pkix-crl`). */
export function crlDer(pem: string): Buffer {
  const block = forge.pem.decode(pem).find((candidate) => candidate.type === 'X509 CRL');
  if (!block) throw new Error('not a PEM CRL');
  return Buffer.from(block.body, 'binary');
}

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE (omitted: none of these is critical), extnValue } */
function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

/** A non-negative integer as minimal DER content bytes (a 0x00 in front only when the top bit is set). */
function integerBytes(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return forge.util.hexToBytes(hex);
}
