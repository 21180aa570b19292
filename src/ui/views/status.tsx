import { Box, Text } from 'ink';
import { formatCoarse } from '../../util/duration.js';
import { Table } from '../table.js';

/** What `byoc status` found, as far as the view shows it. */
interface StatusShown {
  identity: string | undefined;
  broker: { mode: 'served' | 'embedded'; location: string; reachable: boolean; latencyMs?: number; error?: { message: string } };
  grants: readonly { id: string; service: string; notAfter: string; remainingMs: number }[];
  certificates: readonly { service: string; requestId: string; notAfter: string; remainingMs: number; expired: boolean; requestStatus: string; honoured: boolean }[];
}

/** `how`: how the identity was established, in the words the text output uses. */
export function StatusView({ status, how, color }: { status: StatusShown; how: string; color: boolean }) {
  const tone = (name: string) => (color ? { color: name } : {});
  const { broker } = status;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{status.identity ?? 'unknown identity (the broker could not be asked)'}</Text>
        <Text dimColor> signed in with {how}</Text>
      </Text>
      <Text>
        broker  {broker.mode} {broker.location}{' '}
        {broker.reachable ? <Text {...tone('green')}>reachable ({broker.latencyMs} ms)</Text> : <Text {...tone('red')}>NOT reachable: {broker.error?.message}</Text>}
      </Text>
      {broker.reachable ? (
        <>
          <Text bold>grants</Text>
          {status.grants.length === 0 ? (
            <Text dimColor>  none (byoc access request SERVICE --reason "...")</Text>
          ) : (
            <Box paddingLeft={2}>
              <Table
                rows={status.grants}
                color={color}
                columns={[
                  { header: 'service', value: (grant) => grant.service },
                  { header: 'request', value: (grant) => grant.id },
                  { header: 'left', value: (grant) => formatCoarse(grant.remainingMs), color: (grant) => (grant.remainingMs < 15 * 60_000 ? 'yellow' : 'green') },
                  { header: 'until', value: (grant) => grant.notAfter },
                ]}
              />
            </Box>
          )}
          <Text bold>certificates</Text>
          {status.certificates.length === 0 ? (
            <Text dimColor>  none</Text>
          ) : (
            <Box paddingLeft={2}>
              <Table
                rows={status.certificates}
                color={color}
                columns={[
                  { header: 'service', value: (held) => held.service },
                  { header: 'request', value: (held) => held.requestId },
                  { header: 'left', value: (held) => (held.expired ? 'expired' : formatCoarse(held.remainingMs)), color: (held) => (held.expired ? 'red' : 'green') },
                  {
                    header: 'broker',
                    value: (held) => (held.honoured ? 'honoured' : held.expired ? 'no longer usable' : `NOT honoured: ${held.requestStatus}`),
                    color: (held) => (held.honoured ? 'green' : 'red'),
                  },
                ]}
              />
            </Box>
          )}
        </>
      ) : null}
    </Box>
  );
}
