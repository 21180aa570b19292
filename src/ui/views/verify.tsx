import { Box, Text } from 'ink';

export interface VerifyViewProps {
  store: string;
  intact: boolean;
  events: number;
  unchained: number;
  head?: string | undefined;
  brokenAt?: string | undefined;
  expected?: string | undefined;
  found?: string | null | undefined;
  color: boolean;
}

/** `byoc broker verify` for a person: the verdict first, then the hashes whole (they are copied, never cut). */
export function VerifyView({ store, intact, events, unchained, head, brokenAt, expected, found, color }: VerifyViewProps) {
  const tone = color ? { color: intact ? 'green' : 'red' } : {};
  const plural = (n: number) => `${n} event${n === 1 ? '' : 's'}`;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold {...tone}>
          {intact ? '✓ chain intact' : `✗ chain broken at ${brokenAt}`}
        </Text>{' '}
        {store}
      </Text>
      {intact ? (
        <>
          <Text>
            {plural(events)}
            {unchained > 0 ? `, the first ${unchained} written before the chain` : ''}
          </Text>
          <Text>head {head}</Text>
        </>
      ) : (
        <>
          <Text>{plural(events - 1)} before it intact</Text>
          <Text>expected prev {expected}</Text>
          <Text>found prev    {found ?? '(none)'}</Text>
        </>
      )}
    </Box>
  );
}
