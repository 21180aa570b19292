import { Box, Text } from 'ink';
import type { AccessRequest, RequestStatus } from '../../access/types.js';
import { formatRelative } from '../../util/duration.js';
import { Table } from '../table.js';
import { padCells } from '../text.js';

const STATUS_COLORS: Record<RequestStatus, string> = { pending: 'yellow', approved: 'green', denied: 'red', expired: 'gray', revoked: 'red' };

function Status({ status, color }: { status: RequestStatus; color: boolean }) {
  return <Text bold {...(color ? { color: STATUS_COLORS[status] } : {})}>{status}</Text>;
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Text>
      <Text dimColor>{padCells(label, 11)}</Text>
      {children}
    </Text>
  );
}

const when = (iso: string | undefined, now: Date) => (iso ? `${formatRelative(new Date(iso), now)} (${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})` : '-');

export interface RequestViewProps {
  request: AccessRequest;
  now: Date;
  color: boolean;
}

export function RequestView({ request, now, color }: RequestViewProps) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{request.id}</Text> <Status status={request.status} color={color} /> · {request.service} · {request.scopes.join(', ')}
      </Text>
      <Field label="requester">{request.requester}</Field>
      <Field label="reason">{request.reason}</Field>
      {request.ticket ? <Field label="ticket">{request.ticket}</Field> : null}
      <Field label="duration">{request.duration}</Field>
      <Field label="created">{when(request.createdAt, now)}</Field>
      {request.status === 'pending' ? <Field label="lapses">{when(request.pendingUntil, now)}</Field> : null}
      {request.approvedAt ? <Field label="approved">{when(request.approvedAt, now)}</Field> : null}
      {request.notAfter ? <Field label="until">{when(request.notAfter, now)}</Field> : null}
      {request.revokedAt ? <Field label="revoked">{`${when(request.revokedAt, now)} by ${request.revokedBy}`}</Field> : null}
      {request.reviews.map((review, index) => (
        <Field key={index} label={index === 0 ? 'reviews' : ''}>
          {`${review.decision === 'approve' ? '✓' : '✗'} ${review.reviewer} ${formatRelative(new Date(review.at), now)}${review.comment ? `: ${review.comment}` : ''}`}
        </Field>
      ))}
    </Box>
  );
}

export interface RequestListViewProps {
  requests: readonly AccessRequest[];
  now: Date;
  color: boolean;
}

export function RequestListView({ requests, now, color }: RequestListViewProps) {
  if (requests.length === 0) return <Text dimColor>No access requests match.</Text>;
  return (
    <Table
      rows={requests}
      color={color}
      columns={[
        { header: 'id', value: (row) => row.id },
        { header: 'status', value: (row) => row.status, color: (row) => STATUS_COLORS[row.status] },
        { header: 'service', value: (row) => row.service },
        { header: 'requester', value: (row) => row.requester },
        { header: 'created', value: (row) => formatRelative(new Date(row.createdAt), now) },
        { header: 'until', value: (row) => (row.notAfter ? formatRelative(new Date(row.notAfter), now) : '-') },
        { header: 'reason', value: (row) => `${row.ticket ? `[${row.ticket}] ` : ''}${row.reason}`, max: 40 },
      ]}
    />
  );
}
