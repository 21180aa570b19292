/**
 * X.509 building blocks. Keys are ECDSA P-256 from node's native crypto: RSA-2048 generation alone takes
 * 80-600 ms here, far past the 50 ms budget for key + CSR + signature. node-forge cannot hold EC keys, so it is
 * used as the ASN.1 / DER / PEM toolkit (names, extensions, encoding) while node's crypto does every signature.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const { asn1, pki } = forge;
// forge would otherwise try to parse BIT STRING contents (an ECDSA signature is valid DER) and re-encode them.
const NO_BITSTRING_DECODING = { decodeBitStrings: false } as unknown as boolean;
// Exported by node-forge but missing from its type definitions.
const extensionsToAsn1 = (pki as unknown as { certificateExtensionsToAsn1(extensions: unknown[]): forge.asn1.Asn1 }).certificateExtensionsToAsn1;
const generateKeyPairAsync = promisify(generateKeyPair);

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A fresh P-256 key pair; the private key never leaves this machine. */
export async function generateKeyPairPem(): Promise<KeyPairPem> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface NameAttribute {
  name: 'commonName' | 'organizationName' | 'organizationalUnitName';
  value: string;
}

export interface CsrInfo {
  subject: NameAttribute[];
  /** the requester's public key exactly as the CSR carries it (SubjectPublicKeyInfo) */
  publicKey: SubjectPublicKey;
}

/** A public key as DER SubjectPublicKeyInfo: signing needs only these bytes, no key object. */
export interface SubjectPublicKey {
  spkiDer: Buffer;
}

/** A PKCS#10 request signed with the private key (proof of possession). */
export function createCsr(keys: KeyPairPem, subject: NameAttribute[]): string {
  const info = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(0).getBytes()),
    nameToAsn1(subject),
    spkiAsn1(createPublicKey(keys.publicKeyPem)),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  return toPem('CERTIFICATE REQUEST', signed(info, createPrivateKey(keys.privateKeyPem)));
}

/** Parses a CSR and checks its self-signature; throws with a readable reason when it is not a valid request. */
export function parseCsr(pem: string): CsrInfo {
  let root: forge.asn1.Asn1;
  try {
    const der = forge.pem.decode(pem).find((block) => block.type === 'CERTIFICATE REQUEST' || block.type === 'NEW CERTIFICATE REQUEST');
    if (!der) throw new Error('no CERTIFICATE REQUEST block');
    root = asn1.fromDer(der.body, NO_BITSTRING_DECODING);
  } catch (error) {
    throw new Error(`not a PEM certificate request: ${(error as Error).message}`);
  }
  const [info, algorithm, signature] = root.value as forge.asn1.Asn1[];
  if (!info || !algorithm || !signature) throw new Error('malformed certificate request');
  const [, subjectAsn1, spki] = info.value as forge.asn1.Asn1[];
  if (!subjectAsn1 || !spki) throw new Error('malformed certificate request');
  const spkiDer = Buffer.from(asn1.toDer(spki).getBytes(), 'binary');
  const algorithmOid = asn1.derToOid(((algorithm.value as forge.asn1.Asn1[])[0]!.value as string));
  if (algorithmOid !== OID.ecdsaWithSha256 && algorithmOid !== OID.sha256WithRsa) {
    throw new Error(`unsupported signature algorithm ${algorithmOid}; use ECDSA or RSA with SHA-256`);
  }
  const signatureBytes = Buffer.from((signature.value as string).slice(1), 'binary');
  const ok = verify('sha256', Buffer.from(asn1.toDer(info).getBytes(), 'binary'), { key: spkiDer, format: 'der', type: 'spki' }, signatureBytes);
  if (!ok) throw new Error('the certificate request signature does not verify');
  const subject = readName(subjectAsn1);
  return { subject, publicKey: { spkiDer } };
}

export interface CertificateSpec {
  subject: NameAttribute[];
  issuer: NameAttribute[];
  publicKey: KeyObject | SubjectPublicKey;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  /** forge extension descriptors, e.g. { name: 'extKeyUsage', clientAuth: true } */
  extensions: Record<string, unknown>[];
  signingKey: KeyObject;
}

/** Builds and signs a v3 certificate. */
export function createCertificate(spec: CertificateSpec): string {
  const holder = pki.createCertificate();
  holder.setExtensions(spec.extensions.map(withKeyIdentifiers) as never);
  const signatureAlgorithm = algorithmIdentifier(spec.signingKey);
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(2).getBytes()),
    ]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(spec.serialHex)),
    signatureAlgorithm,
    nameToAsn1(spec.issuer),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [timeAsn1(spec.notBefore), timeAsn1(spec.notAfter)]),
    nameToAsn1(spec.subject),
    spkiAsn1(spec.publicKey),
    extensionsToAsn1(holder.extensions),
  ]);
  return toPem('CERTIFICATE', signed(tbs, spec.signingKey));
}

/**
 * forge derives key identifiers from an RSA key it holds; with EC keys byoc computes them and hands forge
 * the encoded value (a pre-filled `value` makes forge leave the extension alone).
 */
function withKeyIdentifiers(extension: Record<string, unknown>): Record<string, unknown> {
  if (extension.name === 'subjectKeyIdentifier' && typeof extension.keyIdentifierHex === 'string') {
    return { name: 'subjectKeyIdentifier', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, forge.util.hexToBytes(extension.keyIdentifierHex)) };
  }
  if (extension.name === 'authorityKeyIdentifier' && typeof extension.keyIdentifierHex === 'string') {
    const keyId = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, forge.util.hexToBytes(extension.keyIdentifierHex));
    return { name: 'authorityKeyIdentifier', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [keyId]) };
  }
  return extension;
}

/** A positive 128-bit serial in hex (the top bit cleared so DER needs no sign byte). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** Subject key identifier: SHA-1 of the public key bits, as RFC 5280 method 1 suggests. */
export function keyIdentifierHex(publicKey: KeyObject): string {
  const spki = asn1.fromDer(Buffer.from(publicKey.export({ type: 'spki', format: 'der' })).toString('binary'), NO_BITSTRING_DECODING);
  const bits = ((spki.value as forge.asn1.Asn1[])[1]!.value as string).slice(1);
  return createHash('sha1').update(Buffer.from(bits, 'binary')).digest('hex');
}

function signed(body: forge.asn1.Asn1, key: KeyObject): forge.asn1.Asn1 {
  const der = Buffer.from(asn1.toDer(body).getBytes(), 'binary');
  const signature = sign('sha256', der, key);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    body,
    algorithmIdentifier(key),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`),
  ]);
}

function algorithmIdentifier(key: KeyObject): forge.asn1.Asn1 {
  const isEc = key.asymmetricKeyType === 'ec';
  const oid = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(isEc ? OID.ecdsaWithSha256 : OID.sha256WithRsa).getBytes());
  // RSA algorithm identifiers carry an explicit NULL parameter; ECDSA ones carry none (RFC 5758).
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, isEc ? [oid] : [oid, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
}

function spkiAsn1(publicKey: KeyObject | SubjectPublicKey): forge.asn1.Asn1 {
  const der = 'spkiDer' in publicKey ? publicKey.spkiDer : publicKey.export({ type: 'spki', format: 'der' });
  return asn1.fromDer(Buffer.from(der).toString('binary'), NO_BITSTRING_DECODING);
}

function nameToAsn1(attributes: NameAttribute[]): forge.asn1.Asn1 {
  const holder = pki.createCertificate();
  holder.setSubject(attributes.map((attribute) => ({ name: attribute.name, value: attribute.value, valueTagClass: asn1.Type.UTF8 })) as never);
  return pki.distinguishedNameToAsn1(holder.subject);
}

function readName(name: forge.asn1.Asn1): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  for (const set of name.value as forge.asn1.Asn1[]) {
    for (const pair of set.value as forge.asn1.Asn1[]) {
      const [oid, value] = pair.value as forge.asn1.Asn1[];
      const short = pki.oids[asn1.derToOid(oid!.value as string)] as string | undefined;
      if (short) attributes.push({ name: short as NameAttribute['name'], value: forge.util.decodeUtf8(value!.value as string) });
    }
  }
  return attributes;
}

function timeAsn1(date: Date): forge.asn1.Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function toPem(type: string, value: forge.asn1.Asn1): string {
  return forge.pem.encode({ type, body: asn1.toDer(value).getBytes() }, { maxline: 64 }).replace(/\r\n/g, '\n');
}
