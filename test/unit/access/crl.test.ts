import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedClient } from '../../../src/access/open.js';
import { HttpBrokerClient } from '../../../src/access/http-client.js';
import { CRL_LIFETIME_MS } from '../../../src/pki/crl.js';
import { createCsr, generateKeyPairPem } from '../../../src/pki/x509.js';
import { tempDir } from '../../fakes/fs.js';
import { ALICE, BOB, openssl, serveRealBroker } from './served-broker.js';

type Served = Awaited<ReturnType<typeof serveRealBroker>>;

/** An approved request with a certificate; returns the request id, the certificate and its file. */
async function withCertificate(served: Served) {
  const id = await served.approved();
  const csr = createCsr(await generateKeyPairPem(), [{ name: 'commonName', value: ALICE }]);
  const issued = await served.broker.issueCertificate(ALICE, id, csr);
  const file = path.join(tempDir(), `${id}.pem`);
  writeFileSync(file, issued.certificate);
  return { id, serial: issued.serial, file };
}

function saved(pem: string): string {
  const file = path.join(tempDir(), 'crl.pem');
  writeFileSync(file, pem);
  return file;
}

describe("the broker's CRL", () => {
  it('lists the certificates of a revoked request, verifies with the CA, and revokes them for openssl verify -crl_check', async () => {
    // Given two granted requests with certificates, one of them then revoked
    const served = await serveRealBroker();
    const revoked = await withCertificate(served);
    const live = await withCertificate(served);
    await served.broker.revoke(BOB, revoked.id, 'incident closed');
    // When the CRL is asked for
    const crl = await served.broker.crl();
    // Then it lists exactly the revoked request's certificate
    expect(crl.revoked).toEqual([{ serial: revoked.serial, requestId: revoked.id, revokedAt: expect.any(String) }]);
    const file = saved(crl.pem);
    // And openssl finds it signed by the CA on disk, with that serial on it
    expect(openssl(['crl', '-in', file, '-CAfile', served.caFile, '-noout'])).toContain('verify OK');
    expect(openssl(['crl', '-in', file, '-noout', '-text'])).toContain(`Serial Number: ${revoked.serial.toUpperCase()}`);
    // And a verifier checking the CRL refuses the revoked certificate and accepts the live one
    const check = (cert: string) => openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', served.caFile, cert]);
    expect(check(revoked.file)).toContain('certificate revoked');
    expect(check(live.file)).toBe(`${live.file}: OK\n`);
  });

  it('is valid for CRL_LIFETIME_MS from now, and an empty one verifies too', async () => {
    // Given a broker where nothing was revoked
    const served = await serveRealBroker();
    await withCertificate(served);
    // When the CRL is asked for
    const crl = await served.broker.crl();
    // Then it is empty, verifies, and lasts exactly the lifetime from (about) now
    expect(crl.revoked).toEqual([]);
    const file = saved(crl.pem);
    expect(openssl(['crl', '-in', file, '-CAfile', served.caFile, '-noout'])).toContain('verify OK');
    expect(openssl(['crl', '-in', file, '-noout', '-text'])).toContain('No Revoked Certificates.');
    expect(Date.parse(crl.nextUpdate) - Date.parse(crl.thisUpdate)).toBe(CRL_LIFETIME_MS);
    expect(Math.abs(Date.parse(crl.thisUpdate) - served.clock.now().getTime())).toBeLessThan(1000);
    expect(BigInt(openssl(['crl', '-in', file, '-noout', '-crlnumber']).trim().replace('crlNumber=', ''))).toBe(BigInt(crl.number));
  });

  it('never lowers its number: each revoke raises it, even within the same second, and time raises it too', async () => {
    // Given a broker with three certificates
    const served = await serveRealBroker();
    const grants = [await withCertificate(served), await withCertificate(served), await withCertificate(served)];
    const numbers = [(await served.broker.crl()).number];
    // When they are revoked one by one, the clock standing still, and then time passes
    for (const grant of grants) {
      await served.broker.revoke(ALICE, grant.id);
      numbers.push((await served.broker.crl()).number);
    }
    numbers.push((await served.broker.crl()).number);
    served.clock.advance(5_000);
    numbers.push((await served.broker.crl()).number);
    // Then every number is at least the one before, strictly larger after each revoke and as time passes
    expect(numbers[1]).toBeGreaterThan(numbers[0]!);
    expect(numbers[2]).toBeGreaterThan(numbers[1]!);
    expect(numbers[3]).toBeGreaterThan(numbers[2]!);
    expect(numbers[4]).toBe(numbers[3]);
    expect(numbers[5]).toBeGreaterThan(numbers[4]!);
    expect((await served.broker.crl()).revoked).toHaveLength(3);
  });

  it('drops a revoked certificate only once it has been expired for a CRL lifetime', async () => {
    const served = await serveRealBroker();
    const grant = await withCertificate(served);
    await served.broker.revoke(BOB, grant.id);
    const notAfter = new X509Certificate(readFileSync(grant.file)).validTo;
    // an hour grant: listed past its end (a lagging server still refuses it), gone a lifetime after
    served.clock.advance(Date.parse(notAfter) - served.clock.now().getTime() + CRL_LIFETIME_MS - 60_000);
    expect((await served.broker.crl()).revoked).toHaveLength(1);
    served.clock.advance(61_000);
    expect((await served.broker.crl()).revoked).toHaveLength(0);
  });
});

describe('GET /v1/crl', () => {
  it('serves the PEM without a token, fresh after a revoke', async () => {
    // Given a served broker with a revoked grant
    const served = await serveRealBroker();
    const grant = await withCertificate(served);
    const before = await served.raw('/v1/crl');
    await served.broker.revoke(ALICE, grant.id);
    // When anyone fetches the CRL over raw HTTP, with no token
    const response = await served.raw('/v1/crl');
    // Then it is the PEM, not cached, signed by the CA, listing the serial
    expect(before.status).toBe(200);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-pem-file');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const file = saved(await response.text());
    expect(openssl(['crl', '-in', file, '-CAfile', served.caFile, '-noout'])).toContain('verify OK');
    expect(openssl(['crl', '-in', file, '-noout', '-text'])).toContain(`Serial Number: ${grant.serial.toUpperCase()}`);
    expect(openssl(['crl', '-noout', '-text'], await before.text())).toContain('No Revoked Certificates.');
  });

  it('serves DER with Accept: application/pkix-crl', async () => {
    const served = await serveRealBroker();
    const response = await served.raw('/v1/crl', { accept: 'application/pkix-crl' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pkix-crl');
    const file = path.join(tempDir(), 'crl.der');
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
    expect(openssl(['crl', '-inform', 'DER', '-in', file, '-CAfile', served.caFile, '-noout'])).toContain('verify OK');
  });

  it('answers the JSON twin (serials with their requests) only with a token', async () => {
    // Given a served broker with a revoked grant
    const served = await serveRealBroker();
    const grant = await withCertificate(served);
    await served.broker.revoke(ALICE, grant.id);
    // When the JSON is asked for without a token, Then 401
    expect((await served.raw('/v1/crl', { accept: 'application/json' })).status).toBe(401);
    // When byoc's HTTP client asks (with its token), Then it gets the CRL and what it lists
    const crl = await new HttpBrokerClient({ url: served.url, token: served.tokens.bob }).crl();
    expect(crl).toMatchObject({ number: expect.any(Number), revoked: [{ serial: grant.serial, requestId: grant.id }] });
    expect(openssl(['crl', '-in', saved(crl.pem), '-CAfile', served.caFile, '-noout'])).toContain('verify OK');
    // And the embedded client says the same
    const embedded = await embeddedClient(served.broker, BOB, served.stateDir).crl();
    expect(embedded.revoked).toEqual(crl.revoked);
  });
});
