import { Box, Text } from 'ink';
import { formatCoarse } from '../../util/duration.js';
import { Table } from '../table.js';

/** One service as `byoc services` lists it. */
export interface ServiceEntry {
  name: string;
  /** file: the configuration file; state: registered in the state folder (`byoc sandbox up`) */
  origin: 'file' | 'state';
  clickhouse: string | null;
  kubernetes: string | null;
  prometheus: string | null;
  /** your approved grant for it that has not ended, or null; undefined when the broker could not be asked */
  grant: { requestId: string; notAfter: string; remainingMs: number; scopes: string[] } | null | undefined;
  /** your stored certificate for it, whatever its state */
  certificate: { requestId: string; notAfter: string; expired: boolean } | null;
}

export interface ServicesViewProps {
  identity: string | undefined;
  services: readonly ServiceEntry[];
  grantsUnknown?: string | undefined;
  color: boolean;
  columns: number;
}

export function ServicesView({ identity, services, grantsUnknown, color, columns }: ServicesViewProps) {
  if (services.length === 0) {
    return <Text dimColor>No services: add one under services in the byoc configuration, or start the local sandbox (byoc sandbox up).</Text>;
  }
  const first = services.find((entry) => entry.grant === null)?.name ?? services[0]!.name;
  return (
    <Box flexDirection="column">
      <Table
        rows={services}
        color={color}
        width={columns}
        columns={[
          { header: 'service', value: (row) => row.name },
          { header: 'from', value: (row) => (row.origin === 'file' ? 'config' : 'sandbox/state') },
          { header: 'clickhouse', value: (row) => row.clickhouse ?? '-' },
          { header: 'kubernetes', value: (row) => row.kubernetes ?? '-' },
          { header: 'prometheus', value: (row) => row.prometheus ?? '-' },
          {
            header: 'grant',
            value: (row) => (row.grant === undefined ? 'unknown' : row.grant ? `${row.grant.requestId} (${formatCoarse(row.grant.remainingMs)} left)` : 'none'),
            color: (row) => (row.grant ? 'green' : row.grant === null ? 'gray' : 'yellow'),
          },
        ]}
      />
      {grantsUnknown ? <Text dimColor>Grants unknown: {grantsUnknown}</Text> : identity && services.some((entry) => entry.grant === null) ? <Text dimColor>Request access as {identity}: byoc access request {first} --reason "..."</Text> : null}
    </Box>
  );
}
