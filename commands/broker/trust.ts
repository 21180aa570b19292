import { defineCommand, option } from '../../src/command.js';
import { NotAllowedError, RemoteError, UsageError } from '../../src/errors.js';

const FETCH_TIMEOUT_MS = 10_000;

export default defineCommand({
  examples: [
    'byoc broker trust https://broker.vendor.example:8443 --fingerprint SHA256:6bN0dbmvqMd1s3fnPqyV1f2Nc4wSUg2wY3aA7VQW0kE',
    'byoc broker trust https://10.0.0.5:8443 --fingerprint AB:CD:EF:...   # as openssl x509 -noout -fingerprint -sha256 prints it',
  ],
  args: { url: { description: "the served broker's URL (https://host:port), as in broker.url", required: true } },
  options: {
    fingerprint: option.string({
      flag: '--fingerprint <sha256>', key: 'broker.trustFingerprint', env: 'BYOC_BROKER_FINGERPRINT', inFile: false,
      description: "the SHA-256 fingerprint of the broker's certificate, from its operator (SHA256:<base64> or colon hex)",
    }),
  },
  async run({ url: given, fingerprint }, ctx) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      throw new UsageError('invalid_url', `${given} is not a URL`, { hint: 'Give the broker URL with its scheme, e.g. https://broker.vendor.example:8443' });
    }
    if (url.protocol !== 'https:') {
      throw new UsageError('invalid_url', `${given}: only an HTTPS broker has a certificate to trust`, {
        hint: `Serve the broker with --tls-cert and --tls-key and trust https://${url.host}.`,
      });
    }
    const { describeCertificate, fetchPeerCertificate, parseFingerprint, pinnedCertificateFile } = await import('../../src/net/broker-trust.js');
    // Checked before the network: a typo is a usage error, not a mismatch.
    const expected = fingerprint === undefined ? undefined : parseFingerprint(fingerprint);
    const { networkOptions, brokerAgentFor } = await import('../../src/net/agents.js');
    let der: Buffer;
    try {
      der = await fetchPeerCertificate(url, await networkOptions(ctx), { signal: ctx.signal, timeoutMs: FETCH_TIMEOUT_MS });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      throw new RemoteError('broker_unreachable', `cannot read the certificate of ${url.origin}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        hint: `Check the URL (host and port), that the broker serves HTTPS there (byoc broker serve --tls-cert ... --tls-key ...), and the network path (byoc doctor).`,
        cause: error,
      });
    }
    const presented = describeCertificate(der);
    if (!expected) {
      throw new UsageError('fingerprint_missing', `${url.origin} presents ${presented.subject} (issued by ${presented.issuer}), fingerprint ${presented.fingerprint.base64}; nothing was trusted`, {
        hint: `Compare that fingerprint with the one the broker's operator gives you (openssl x509 -in broker.crt -noout -fingerprint -sha256 prints ${presented.fingerprint.hex}), then run: byoc broker trust ${url.origin} --fingerprint ${presented.fingerprint.base64}`,
      });
    }
    if (expected.base64 !== presented.fingerprint.base64) {
      throw new NotAllowedError(
        'fingerprint_mismatch',
        `${url.origin} presents a certificate with fingerprint ${presented.fingerprint.base64} (${presented.fingerprint.hex}), not the expected ${expected.base64} (${expected.hex}); nothing was trusted`,
        {
          hint: "Do not trust it: someone may be in the middle, or the broker's certificate changed. Ask the broker's operator for the current fingerprint (openssl x509 -in broker.crt -noout -fingerprint -sha256).",
        },
      );
    }
    const file = pinnedCertificateFile(ctx.stateDir(), url);
    const { writePrivateFile } = await import('../../src/util/secure-fs.js');
    const { readFile, rm } = await import('node:fs/promises');
    // A pin being replaced (the broker renewed its certificate) comes back if the new one does not work.
    const previous = await readFile(file, 'utf8').catch(() => undefined);
    await writePrivateFile(file, presented.pem);
    // The pin alone must now carry a verified connection (host name, validity): proven with the broker's
    // CA endpoint (no token needed), through the same agent every broker call uses; a pin that cannot is not kept.
    try {
      const { HttpBrokerClient } = await import('../../src/access/http-client.js');
      await new HttpBrokerClient({ url: url.origin, token: undefined, agent: await brokerAgentFor(ctx, url), signal: ctx.signal }).ca();
    } catch (error) {
      await (previous === undefined ? rm(file, { force: true }) : writePrivateFile(file, previous));
      throw error;
    }
    return { url: url.origin, fingerprint: presented.fingerprint.base64, fingerprintHex: presented.fingerprint.hex, subject: presented.subject, issuer: presented.issuer, validTo: presented.validTo, file };
  },
  text: (result) => `trusted ${result.url}: ${result.subject}, ${result.fingerprint}, valid until ${result.validTo} (stored in ${result.file})`,
});
