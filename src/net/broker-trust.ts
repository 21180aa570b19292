/**
 * How the CLI trusts a served broker's certificate beyond the system's roots: `broker.caFile` (BYOC_BROKER_CA), a
 * private CA's certificate, and certificates pinned per broker URL with `byoc broker trust URL --fingerprint ...`.
 *
 * A pin is the broker's own certificate, stored under the state folder and named by the URL's origin, so it is
 * used for that origin only. It is handed to OpenSSL as a trust anchor with partial chains allowed (Node's
 * allowPartialTrustChain): the broker's exact certificate is then trusted without its issuer, while everything
 * else of TLS still holds (the host name, the validity dates, the key it proves it holds). Verification is never
 * turned off.
 */
import { createHash, X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { readSmallFile } from '../util/read.js';
import type { ConnectionOptions, NetworkOptions } from './network.js';

/** Where the pinned certificate of a broker origin (`https://host:port`) lives. */
export function pinnedCertificateFile(stateDir: string, url: URL): string {
  // encodeURIComponent keeps the origin readable in `ls` and distinct for every scheme, host and port.
  return path.join(stateDir, 'trust', 'brokers', `${encodeURIComponent(url.origin)}.pem`);
}

/** The pinned certificate (PEM) for this URL's origin, if `byoc broker trust` stored one. */
async function pinnedCertificate(stateDir: string, url: URL): Promise<string | undefined> {
  try {
    return await readSmallFile(pinnedCertificateFile(stateDir, url));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The TLS options for a served broker at `url`: broker.caFile and the URL's pin, when there are any. */
export async function brokerConnection(ctx: Pick<Context, 'config' | 'stateDir'>, url: URL): Promise<ConnectionOptions> {
  if (url.protocol !== 'https:') return {};
  const configuration = await ctx.config();
  const caFile = configuration.get<string>('broker.caFile');
  const { readConfiguredFile } = await import('../config/files.js');
  const ca = caFile ? await readConfiguredFile(configuration, 'broker.caFile', caFile, 'ca_file_unreadable') : undefined;
  const pinned = await pinnedCertificate(ctx.stateDir(), url);
  const anchors = [ca, pinned].filter((pem): pem is string => pem !== undefined);
  if (anchors.length === 0) return {};
  return { ca: anchors, ...(pinned ? { allowPartialTrustChain: true } : {}) };
}

/** A SHA-256 certificate fingerprint, in the two spellings people compare. */
export interface Fingerprint {
  /** `SHA256:` and unpadded base64, as OpenSSH prints it */
  base64: string;
  /** colon-separated upper-case hex, as `openssl x509 -noout -fingerprint -sha256` prints it */
  hex: string;
}

export function fingerprintOf(der: Uint8Array): Fingerprint {
  return spell(createHash('sha256').update(der).digest());
}

function spell(digest: Buffer): Fingerprint {
  return {
    base64: `SHA256:${digest.toString('base64').replace(/=+$/, '')}`,
    hex: digest.toString('hex').toUpperCase().match(/../g)!.join(':'),
  };
}

/**
 * A fingerprint as given to --fingerprint: `SHA256:` (optional) then base64 (OpenSSH style, padded or not, or
 * base64url) or hex (plain or colon-separated); `openssl x509 -fingerprint -sha256`'s whole line
 * (`sha256 Fingerprint=AB:CD:...`) too. Anything else is a usage error showing both accepted forms.
 */
export function parseFingerprint(text: string): Fingerprint {
  const value = text.trim().replace(/^sha-?256\s+fingerprint\s*=\s*/i, '').replace(/^sha-?256:/i, '');
  const hex = value.replace(/:/g, '');
  let digest: Buffer | undefined;
  if (/^[0-9a-f]{64}$/i.test(hex) && (!value.includes(':') || /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(value))) {
    digest = Buffer.from(hex, 'hex');
  } else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    digest = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (!digest || digest.length !== 32) {
    throw new UsageError('invalid_fingerprint', `--fingerprint ${text}: not a SHA-256 fingerprint`, {
      hint: 'Give the SHA-256 fingerprint of the broker certificate as the operator printed it: SHA256:<base64> or the hex of openssl x509 -in broker.crt -noout -fingerprint -sha256 (AB:CD:...).',
    });
  }
  return spell(digest);
}

/** A DER certificate as PEM, with what a person checks before trusting it. */
export function describeCertificate(der: Buffer): { pem: string; subject: string; issuer: string; validTo: string; fingerprint: Fingerprint } {
  const certificate = new X509Certificate(der);
  const body = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return {
    pem: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`,
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    validTo: new Date(certificate.validTo).toISOString(),
    fingerprint: fingerprintOf(der),
  };
}

/**
 * The certificate a TLS server at `url` presents (DER), read through the network layer (its proxy and resolve
 * overrides). The handshake does not verify it: that is the point, the caller compares its fingerprint with a
 * pin given out of band, and the connection carries nothing (it is closed once the certificate is read).
 */
export async function fetchPeerCertificate(url: URL, options: NetworkOptions, limits: { signal: AbortSignal; timeoutMs: number }): Promise<Buffer> {
  const [tls, { hostOf, portOf, proxyFor, openProxyTunnel, lookupWithOverrides }] = await Promise.all([import('node:tls'), import('./network.js')]);
  const host = hostOf(url);
  const port = portOf(url);
  const signal = AbortSignal.any([limits.signal, AbortSignal.timeout(limits.timeoutMs)]);
  const tunnel = proxyFor(url, options) ? (await openProxyTunnel(url, options, { signal, timeoutMs: limits.timeoutMs })).socket : undefined;
  const { isIP } = await import('node:net');
  return new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({
      ...(tunnel ? { socket: tunnel } : { host, port, lookup: lookupWithOverrides(options.resolve, options.dnsLookup) }),
      ...(isIP(host) ? {} : { servername: host }),
      // Only to read the certificate: nothing is sent over this connection.
      rejectUnauthorized: false,
    });
    const stop = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', stop, { once: true });
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      signal.removeEventListener('abort', stop);
      socket.destroy();
      if (raw) resolve(raw);
      else reject(new Error('the server presented no certificate'));
    });
    socket.once('error', (error: Error) => {
      signal.removeEventListener('abort', stop);
      reject(error);
    });
  });
}
