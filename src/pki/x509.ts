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
interface SubjectPublicKey {
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

/** What the broker signs: keys a server and its clients can trust for the life of a grant. */
export const CSR_KEY_POLICY = 'EC P-256 or P-384, or RSA of 2048 bits or more';
const MIN_RSA_BITS = 2048;
const ACCEPTED_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };
const CURVE_NAMES: Record<string, string> = { ...ACCEPTED_CURVES, secp521r1: 'P-521' };
/** signature algorithm OID -> [key type it goes with, hash, name] */
const CSR_SIGNATURES: Record<string, [keyType: 'ec' | 'rsa', hash: string, name: string]> = {
  '1.2.840.10045.4.3.2': ['ec', 'sha256', 'ecdsa-with-SHA256'],
  '1.2.840.10045.4.3.3': ['ec', 'sha384', 'ecdsa-with-SHA384'],
  '1.2.840.10045.4.3.4': ['ec', 'sha512', 'ecdsa-with-SHA512'],
  '1.2.840.113549.1.1.11': ['rsa', 'sha256', 'sha256WithRSAEncryption'],
  '1.2.840.113549.1.1.12': ['rsa', 'sha384', 'sha384WithRSAEncryption'],
  '1.2.840.113549.1.1.13': ['rsa', 'sha512', 'sha512WithRSAEncryption'],
};
const SIGNATURE_NAMES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

/**
 * A CSR that is well-formed but whose key or signature algorithm the broker does not sign for. Not a usage
 * error: the request is understood and refused by policy.
 */
export class CsrPolicyError extends Error {
  constructor(
    readonly code: 'csr_key_refused' | 'csr_signature_refused',
    message: string,
  ) {
    super(message);
    this.name = 'CsrPolicyError';
  }
}

/** What proves a CSR's key is held: its signature over the request info, checked with the key it carries. */
export interface CsrProof {
  hash: string;
  data: Buffer;
  signature: Buffer;
  /** the CSR's key, already through the policy, and its DER (the same as `CsrInfo.publicKey`) */
  key: KeyObject;
  spkiDer: Buffer;
}

/**
 * Parses a CSR, applies the key policy ({@link CSR_KEY_POLICY}) and checks its self-signature. Throws a
 * {@link CsrPolicyError} for a key or algorithm outside the policy, and a plain Error when it is not a valid request.
 */
export function parseCsr(pem: string): CsrInfo {
  const { subject, publicKey, proof } = readCsr(pem);
  if (!verifyCsr(proof)) throw new Error(CSR_SIGNATURE_FAILED);
  return { subject, publicKey };
}

/** @internal the message of a CSR whose self-signature does not verify (wherever it is checked) */
export const CSR_SIGNATURE_FAILED = 'the certificate request signature does not verify';

/** Whether a CSR's self-signature verifies. */
export function verifyCsr(proof: CsrProof): boolean {
  return verify(proof.hash, proof.data, proof.key, proof.signature);
}

/**
 * {@link parseCsr} without the signature check, which the caller must make ({@link verifyCsr}, or the served
 * broker's signing thread) before signing anything for it. The policy is applied here.
 */
export function readCsr(pem: string): CsrInfo & { proof: CsrProof } {
  let root: forge.asn1.Asn1;
  try {
    const der = plainCsrBody(pem) ?? forge.pem.decode(pem).find((block) => block.type === 'CERTIFICATE REQUEST' || block.type === 'NEW CERTIFICATE REQUEST')?.body;
    if (der === undefined) throw new Error('no CERTIFICATE REQUEST block');
    root = asn1.fromDer(der, NO_BITSTRING_DECODING);
  } catch (error) {
    throw new Error(`not a PEM certificate request: ${(error as Error).message}`, { cause: error });
  }
  const [info, algorithm, signature] = Array.isArray(root.value) ? (root.value) : [];
  if (!info || !algorithm || !signature || !Array.isArray(info.value) || !Array.isArray(algorithm.value)) throw new Error('malformed certificate request');
  const [, subjectAsn1, spki] = info.value;
  if (!subjectAsn1 || !spki || !Array.isArray(subjectAsn1.value)) throw new Error('malformed certificate request');
  const spkiDer = Buffer.from(asn1.toDer(spki).getBytes(), 'binary');
  const publicKey = acceptedKey(spki, spkiDer);
  const algorithmOid = readOid((algorithm.value)[0]);
  const accepted = algorithmOid === undefined ? undefined : CSR_SIGNATURES[algorithmOid];
  if (!accepted || accepted[0] !== publicKey.asymmetricKeyType) {
    const name = algorithmOid === undefined ? 'an unreadable algorithm' : (CSR_SIGNATURES[algorithmOid]?.[2] ?? SIGNATURE_NAMES[algorithmOid] ?? `OID ${algorithmOid}`);
    throw new CsrPolicyError(
      'csr_signature_refused',
      `the certificate request is signed with ${name}${accepted ? ` over ${publicKey.asymmetricKeyType === 'ec' ? 'an EC' : 'an RSA'} key` : ''}; the broker accepts ECDSA with SHA-256/384/512 for EC keys and RSA PKCS#1 v1.5 with SHA-256/384/512 for RSA keys`,
    );
  }
  if (typeof signature.value !== 'string') throw new Error('malformed certificate request');
  const proof: CsrProof = {
    hash: accepted[1],
    data: Buffer.from(asn1.toDer(info).getBytes(), 'binary'),
    signature: Buffer.from(signature.value.slice(1), 'binary'),
    key: publicKey,
    spkiDer,
  };
  return { subject: readName(subjectAsn1), publicKey: { spkiDer }, proof };
}

/**
 * The DER (as a binary string) of a PEM holding one plain CSR block, the common case, found without forge's PEM
 * scanner (~9 us a CSR); anything else (headers, other blocks before it, odd characters) is left to forge
 * (undefined), so what is accepted is what forge accepts.
 */
function plainCsrBody(pem: string): string | undefined {
  const begin = /^\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n/.exec(pem);
  if (!begin) return undefined;
  const endMarker = `-----END ${begin[1] ?? ''}CERTIFICATE REQUEST-----`;
  const end = pem.indexOf(endMarker, begin[0].length);
  if (end === -1) return undefined;
  const body = pem.slice(begin[0].length, end);
  if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) return undefined;
  return Buffer.from(body, 'base64').toString('binary');
}

/**
 * Keys the policy accepted, by their DER: loading a public key costs more than checking a signature with it
 * (about 120 us of the 260 us a CSR took), and a client that asks for certificates again and again (a served
 * broker's renewing clients, the benchmark) sends the same key. Only the parsed key and the policy's verdict are
 * reused; every CSR's signature is still verified. Bounded, oldest first out.
 */
const acceptedKeys = new Map<string, KeyObject>();

function acceptedKey(spki: forge.asn1.Asn1, spkiDer: Buffer): KeyObject {
  return remembered(acceptedKeys, spkiDer.toString('base64'), () => csrPublicKey(spki, spkiDer));
}

const KEPT = 256;

/**
 * `make()`'s value for `key`, made once while it is among the last KEPT kept (oldest out first). For pure
 * results that repeat from one signature to the next: the CA's name and extensions, a renewing client's key.
 */
function remembered<T>(cache: Map<string, T>, key: string, make: () => T): T {
  const known = cache.get(key);
  if (known !== undefined) return known;
  const made = make();
  if (cache.size >= KEPT) cache.delete(cache.keys().next().value!);
  cache.set(key, made);
  return made;
}

/** The CSR's key, if the policy accepts it. */
function csrPublicKey(spki: forge.asn1.Asn1, spkiDer: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch (error) {
    // node could not load it: a key of an accepted kind is then damaged (malformed); any other kind is refused.
    const [algorithm, parameter] = spkiAlgorithm(spki);
    const acceptedKind = algorithm === SPKI.rsa || (algorithm === SPKI.ec && parameter !== undefined && ACCEPTED_CURVE_OIDS.has(parameter));
    if (algorithm === undefined || acceptedKind) throw new Error(`malformed public key: ${(error as Error).message}`, { cause: error });
    throw new CsrPolicyError('csr_key_refused', `the certificate request's key (algorithm ${algorithm}${parameter ? `, parameters ${parameter}` : ''}) is not accepted; the broker signs only ${CSR_KEY_POLICY}`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  let found: string;
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown curve';
    if (ACCEPTED_CURVES[curve]) return key;
    found = `an EC key on ${CURVE_NAMES[curve] ?? curve}`;
  } else if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= MIN_RSA_BITS) return key;
    found = `an RSA key of ${bits} bits`;
  } else {
    const names: Record<string, string> = { ed25519: 'an Ed25519 key', ed448: 'an Ed448 key', 'rsa-pss': 'an RSA-PSS key', dsa: 'a DSA key', x25519: 'an X25519 key', x448: 'an X448 key', dh: 'a DH key' };
    found = names[key.asymmetricKeyType ?? ''] ?? `a key of type ${key.asymmetricKeyType ?? 'unknown'}`;
  }
  throw new CsrPolicyError('csr_key_refused', `the certificate request has ${found}; the broker signs only ${CSR_KEY_POLICY}`);
}

const SPKI = { rsa: '1.2.840.113549.1.1.1', ec: '1.2.840.10045.2.1' };
const ACCEPTED_CURVE_OIDS = new Set(['1.2.840.10045.3.1.7', '1.3.132.0.34']);

/** A SubjectPublicKeyInfo's algorithm OID and, for EC, its named curve's OID. */
function spkiAlgorithm(spki: forge.asn1.Asn1): [string | undefined, string | undefined] {
  const identifier = Array.isArray(spki.value) ? (spki.value[0]) : undefined;
  if (!identifier || !Array.isArray(identifier.value)) return [undefined, undefined];
  const [algorithm, parameter] = identifier.value;
  return [readOid(algorithm), readOid(parameter)];
}

function readOid(node: forge.asn1.Asn1 | undefined): string | undefined {
  if (!node || node.type !== asn1.Type.OID || typeof node.value !== 'string') return undefined;
  try {
    return asn1.derToOid(node.value);
  } catch {
    return undefined;
  }
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
  const body = certificateBody(spec);
  return body.finish(sign('sha256', body.der, spec.signingKey));
}

/**
 * A certificate's to-be-signed DER, and how to make the certificate of it once signed (SHA-256 with
 * `signingKey`, by whichever thread holds the key). Split so that the served broker can sign off its main thread.
 *
 * A certificate for a key given as DER (a CSR's: every client certificate) is written here from parts encoded
 * once per CA, byte for byte what forge writes for it ({@link certificateBodyWithForge}, which a test compares it
 * with): forge's tree of nodes took ~30 us of the ~60 us a certificate costs the broker's main thread. Anything
 * else (a CA, a server certificate: rare) goes through forge.
 */
export function certificateBody(spec: CertificateSpec): { der: Buffer; finish: (signature: Buffer) => string } {
  const der = 'spkiDer' in spec.publicKey ? tbsDer(spec, spec.publicKey.spkiDer) : certificateBodyWithForge(spec);
  const algorithmDer = rememberedAlgorithmDer(spec.signingKey);
  // The certificate is SEQUENCE { tbs, algorithm, BIT STRING signature }: put together from the bytes already
  // encoded (forge would encode the body a second time, and its PEM encoder is slower than Buffer's base64).
  return { der, finish: (signature) => derPem('CERTIFICATE', derSequence([der, algorithmDer, derBitString(signature)])) };
}

/** @internal the reference encoding of a certificate's body (and the one used for keys given as KeyObjects) */
export function certificateBodyWithForge(spec: CertificateSpec): Buffer {
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(2).getBytes()),
    ]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(spec.serialHex)),
    algorithmIdentifier(spec.signingKey),
    rememberedName(spec.issuer),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [timeAsn1(spec.notBefore), timeAsn1(spec.notAfter)]),
    nameToAsn1(spec.subject),
    spkiAsn1(spec.publicKey),
    extensionsToAsn1(spec.extensions.map(processedExtension)),
  ]);
  return Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
}

/** [0] EXPLICIT INTEGER 2: version 3 */
const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const NAME_OIDS: Record<NameAttribute['name'], Buffer> = {
  commonName: Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]),
  organizationName: Buffer.from([0x06, 0x03, 0x55, 0x04, 0x0a]),
  organizationalUnitName: Buffer.from([0x06, 0x03, 0x55, 0x04, 0x0b]),
};
/** id-ce-subjectAltName (2.5.29.17) */
const SUBJECT_ALT_NAME_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);
const issuerNameDers = new Map<string, Buffer>();
const extensionDers = new Map<string, Buffer>();

function tbsDer(spec: CertificateSpec, spkiDer: Buffer): Buffer {
  const issuer = remembered(issuerNameDers, JSON.stringify(spec.issuer), () => Buffer.from(asn1.toDer(rememberedName(spec.issuer)).getBytes(), 'binary'));
  const extensions = spec.extensions.map(extensionDer);
  return derSequence([
    VERSION_3,
    derTlv(0x02, Buffer.from(spec.serialHex, 'hex')),
    rememberedAlgorithmDer(spec.signingKey),
    issuer,
    derSequence([timeDer(spec.notBefore), timeDer(spec.notAfter)]),
    // as forge writes a name: one SET per attribute, each value a UTF8String
    derSequence(spec.subject.map((attribute) => derTlv(0x31, derSequence([NAME_OIDS[attribute.name], derTlv(0x0c, Buffer.from(attribute.value, 'utf8'))])))),
    spkiDer,
    // [3] EXPLICIT Extensions
    derTlv(0xa3, derSequence(extensions)),
  ]);
}

/** An extension's DER: a SAN of URIs written here (it names the request), any other encoded once by forge. */
function extensionDer(extension: Record<string, unknown>): Buffer {
  const names = extension.altNames as { type: number; value?: string }[] | undefined;
  if (extension.name === 'subjectAltName' && !extension.critical && names?.every((name) => name.type === 6 && typeof name.value === 'string')) {
    // SEQUENCE { OID, OCTET STRING { GeneralNames: [6] IA5String URI, ... } }
    const general = derSequence(names.map((name) => derTlv(0x86, Buffer.from(name.value!, 'latin1'))));
    return derSequence([SUBJECT_ALT_NAME_OID, derTlv(0x04, general)]);
  }
  return remembered(extensionDers, JSON.stringify(extension), () => {
    const node = (extensionsToAsn1([processedExtension(extension)]).value as forge.asn1.Asn1[])[0]!;
    // the [3] wrapper holds SEQUENCE OF Extension: its one element is this extension
    return Buffer.from(asn1.toDer((node.value as forge.asn1.Asn1[])[0]!).getBytes(), 'binary');
  });
}

function timeDer(date: Date): Buffer {
  // RFC 5280 (as timeAsn1): UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050 ? derTlv(0x17, Buffer.from(asn1.dateToUtcTime(date), 'latin1')) : derTlv(0x18, Buffer.from(asn1.dateToGeneralizedTime(date), 'latin1'));
}

function derTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

const algorithmDers = new Map<string, Buffer>();

function rememberedAlgorithmDer(key: KeyObject): Buffer {
  return remembered(algorithmDers, key.asymmetricKeyType ?? '', () => Buffer.from(asn1.toDer(algorithmIdentifier(key)).getBytes(), 'binary'));
}

/** DER's length octets: short form below 128, else 0x80 + the count of big-endian length bytes. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derSequence(parts: Buffer[]): Buffer {
  return derTlv(0x30, Buffer.concat(parts));
}

function derBitString(bytes: Buffer): Buffer {
  // no unused bits: a signature is whole bytes
  return derTlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

/** PEM as forge writes it (64-character lines, LF): the same text for the same DER. */
function derPem(type: string, der: Buffer): string {
  const base64 = der.toString('base64');
  let body = '';
  for (let at = 0; at < base64.length; at += 64) body += `${base64.slice(at, at + 64)}\n`;
  return `-----BEGIN ${type}-----\n${body}-----END ${type}-----\n`;
}

const issuerNames = new Map<string, forge.asn1.Asn1>();
const extensions = new Map<string, unknown>();

/** The issuer's encoded name: the same CA's for every certificate it signs, so encoded once (forge takes ~11 us). */
function rememberedName(attributes: NameAttribute[]): forge.asn1.Asn1 {
  return remembered(issuerNames, JSON.stringify(attributes), () => nameToAsn1(attributes));
}

/**
 * An extension descriptor as forge completes it (~7 us each): all but the SAN of a client certificate are the
 * same for every certificate a CA signs. forge completes each extension on its own, so one at a time is the same.
 */
function processedExtension(extension: Record<string, unknown>): unknown {
  return remembered(extensions, JSON.stringify(extension), () => {
    const holder = pki.createCertificate();
    holder.setExtensions([withKeyIdentifiers(extension)] as never);
    return (holder.extensions as unknown[])[0];
  });
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

/** A positive 128-bit serial in hex (the top bit cleared so DER needs no sign byte, the first byte never zero). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  // Positive, and never a leading zero byte: DER integers are minimal, and OpenSSL rejects a padded one.
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

/** Subject key identifier: SHA-1 of the public key bits, as RFC 5280 method 1 suggests. */
export function keyIdentifierHex(publicKey: KeyObject): string {
  const spki = asn1.fromDer(Buffer.from(publicKey.export({ type: 'spki', format: 'der' })).toString('binary'), NO_BITSTRING_DECODING);
  const bits = ((spki.value as forge.asn1.Asn1[])[1]!.value as string).slice(1);
  return createHash('sha1').update(Buffer.from(bits, 'binary')).digest('hex');
}

/** @internal shared with crl.ts */
export function signed(body: forge.asn1.Asn1, key: KeyObject): forge.asn1.Asn1 {
  const der = Buffer.from(asn1.toDer(body).getBytes(), 'binary');
  const signature = sign('sha256', der, key);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    body,
    algorithmIdentifier(key),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`),
  ]);
}

/** @internal shared with crl.ts */
export function algorithmIdentifier(key: KeyObject): forge.asn1.Asn1 {
  const isEc = key.asymmetricKeyType === 'ec';
  const oid = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(isEc ? OID.ecdsaWithSha256 : OID.sha256WithRsa).getBytes());
  // RSA algorithm identifiers carry an explicit NULL parameter; ECDSA ones carry none (RFC 5758).
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, isEc ? [oid] : [oid, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
}

function spkiAsn1(publicKey: KeyObject | SubjectPublicKey): forge.asn1.Asn1 {
  const der = 'spkiDer' in publicKey ? publicKey.spkiDer : publicKey.export({ type: 'spki', format: 'der' });
  return asn1.fromDer(Buffer.from(der).toString('binary'), NO_BITSTRING_DECODING);
}

/** @internal shared with crl.ts */
export function nameToAsn1(attributes: NameAttribute[]): forge.asn1.Asn1 {
  const holder = pki.createCertificate();
  holder.setSubject(attributes.map((attribute) => ({ name: attribute.name, value: attribute.value, valueTagClass: asn1.Type.UTF8 })) as never);
  return pki.distinguishedNameToAsn1(holder.subject);
}

function readName(name: forge.asn1.Asn1): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  for (const set of name.value as forge.asn1.Asn1[]) {
    for (const pair of set.value as forge.asn1.Asn1[]) {
      const [oid, value] = pair.value as forge.asn1.Asn1[];
      const short = pki.oids[asn1.derToOid(oid!.value as string)];
      if (short) attributes.push({ name: short as NameAttribute['name'], value: forge.util.decodeUtf8(value!.value as string) });
    }
  }
  return attributes;
}

/** @internal shared with crl.ts */
export function timeAsn1(date: Date): forge.asn1.Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

/** @internal shared with crl.ts */
export function toPem(type: string, value: forge.asn1.Asn1): string {
  return forge.pem.encode({ type, body: asn1.toDer(value).getBytes() }, { maxline: 64 }).replace(/\r\n/g, '\n');
}
