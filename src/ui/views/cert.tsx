import { Box, Text } from 'ink';
import type { CertificateSummary } from '../../pki/present.js';
import { formatCoarse, formatRelative } from '../../util/duration.js';
import { Table } from '../table.js';

type ShownCertificate = Pick<CertificateSummary, 'service' | 'requestId' | 'subject' | 'serial' | 'fingerprint' | 'notAfter' | 'certPath' | 'keyPath' | 'caPath' | 'remainingMs' | 'expired'> & {
  /** what the broker says about the request now (cert show) */
  requestStatus?: string;
  revokedBy?: string;
  revokedAt?: string;
};

export interface CertificateViewProps {
  certificate: ShownCertificate;
  now: Date;
  color: boolean;
  title?: string;
  note?: string | undefined;
}

export function CertificateView({ certificate, now, color, title, note }: CertificateViewProps) {
  const refused = certificate.requestStatus !== undefined && certificate.requestStatus !== 'approved';
  const state = refused ? `not usable: request ${certificate.requestStatus}` : certificate.expired ? 'expired' : `valid for ${formatCoarse(certificate.remainingMs)}`;
  const tone = refused || certificate.expired ? 'red' : certificate.remainingMs < 15 * 60_000 ? 'yellow' : 'green';
  const revoked = certificate.revokedBy ? ` by ${certificate.revokedBy} at ${certificate.revokedAt}` : '';
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{title ?? 'Certificate'} for {certificate.service}</Text> <Text {...(color ? { color: tone } : {})}>{state}</Text>
      </Text>
      {note ? <Text dimColor>  {note}</Text> : null}
      <Text>  subject     {certificate.subject}</Text>
      <Text>  request     {certificate.requestId}{certificate.requestStatus ? ` (${certificate.requestStatus}${revoked})` : ''}</Text>
      <Text>  expires     {formatRelative(new Date(certificate.notAfter), now)} ({certificate.notAfter})</Text>
      <Text>  serial      {certificate.serial}</Text>
      <Text>  sha256      {certificate.fingerprint}</Text>
      <Text>  cert        {certificate.certPath}</Text>
      <Text>  key         {certificate.keyPath}</Text>
      <Text>  ca          {certificate.caPath}</Text>
    </Box>
  );
}

export interface CertificateListViewProps {
  identity: string;
  certificates: readonly CertificateSummary[];
  /** configured services, to name in the hint when nothing is stored */
  services?: readonly string[];
  now: Date;
  color: boolean;
}

export function CertificateListView({ identity, certificates, services = [], now, color }: CertificateListViewProps) {
  if (certificates.length === 0) {
    const next = services.length
      ? `Get one with: byoc cert get ${services[0]}${services.length > 1 ? ` (services: ${services.join(', ')})` : ''}`
      : 'No service is configured yet: add one under services in the byoc configuration.';
    return <Text dimColor>No certificates stored for {identity}. {next}</Text>;
  }
  return (
    <Table
      rows={certificates}
      color={color}
      columns={[
        { header: 'service', value: (row) => row.service },
        { header: 'request', value: (row) => row.requestId },
        { header: 'subject', value: (row) => row.subject },
        { header: 'expires', value: (row) => (row.expired ? 'expired' : formatRelative(new Date(row.notAfter), now)), color: (row) => (row.expired ? 'red' : 'green') },
      ]}
    />
  );
}
