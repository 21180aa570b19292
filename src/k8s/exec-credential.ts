import { ConfigError } from '../errors.js';

export interface ExecCredentialInput {
  /** the service the certificate is for, so the hint names the request to make */
  service?: string;
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface ExecCredential {
  apiVersion: 'client.authentication.k8s.io/v1';
  kind: 'ExecCredential';
  status: {
    clientCertificateData: string;
    clientKeyData: string;
    expirationTimestamp: string;
  };
}

/**
 * What `byoc kube-credential` prints for kubectl's exec plugin. kubectl caches it until
 * expirationTimestamp, then runs the plugin again, so the expiry must be the certificate's own.
 */
export function execCredential({ service, certPem, keyPem, notAfter }: ExecCredentialInput): ExecCredential {
  if (Number.isNaN(notAfter.getTime())) {
    throw new ConfigError('credential_expiry_invalid', 'the certificate has no valid expiry date', {
      hint: service ? `Get a fresh certificate: byoc cert get ${service} --renew, then retry.` : 'Get a fresh certificate with byoc cert get --renew, then retry.',
    });
  }
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: {
      clientCertificateData: certPem,
      clientKeyData: keyPem,
      // Whole seconds: RFC 3339 as Kubernetes itself writes metav1.Time.
      expirationTimestamp: notAfter.toISOString().replace(/\.\d+Z$/, 'Z'),
    },
  };
}
