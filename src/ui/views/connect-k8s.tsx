import { Box, Text } from 'ink';
import { formatDuration, formatRelative } from '../../util/duration.js';
import { padCells } from '../text.js';

/** What `connect k8s` wrote and what the cluster answered; the view's own shape, filled in by the command. */
export interface ConnectK8sViewProps {
  service: string;
  kubeconfig: string;
  context: string;
  changed: boolean;
  backup: string | null;
  /** current-context was pointed at this context by this run */
  switched: boolean;
  current: boolean;
  serverUrl: string;
  verification: {
    serverVersion: string;
    /** who the API server says you are; null when it does not say */
    user: string | null;
    certificateSubject: string;
    notAfter: string;
    remainingMs: number;
  } | null;
  now: Date;
  color: boolean;
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Text>
      <Text dimColor>{padCells(label, 13)}</Text>
      {children}
    </Text>
  );
}

export function ConnectK8sView(props: ConnectK8sViewProps) {
  const { verification, color } = props;
  const tint = (name: string) => (color ? { color: name } : {});
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{props.context}</Text> for {props.service}{' '}
        {verification ? <Text bold {...tint('green')}>verified</Text> : <Text bold {...tint('red')}>not verified</Text>}
      </Text>
      <Field label="kubeconfig">
        {props.kubeconfig} <Text dimColor>{props.changed ? 'written' : 'unchanged'}{props.backup ? `, backup ${props.backup}` : ''}</Text>
      </Field>
      <Field label="context">
        {props.current ? (
          <Text {...tint('green')}>{props.switched ? 'now current' : 'current'}</Text>
        ) : (
          <Text {...tint('yellow')}>not current: kubectl --context {props.context} get nodes (or --switch)</Text>
        )}
      </Field>
      <Field label="server">
        {props.serverUrl}
        {verification ? ` (Kubernetes ${verification.serverVersion})` : ''}
      </Field>
      {verification ? (
        <>
          <Field label="you are">{verification.user ?? `${verification.certificateSubject} (the server does not say who it sees)`}</Field>
          <Field label="certificate">
            {verification.remainingMs > 0 ? `${formatDuration(verification.remainingMs)} left` : `expired ${formatRelative(new Date(verification.notAfter), props.now)}`} (until {verification.notAfter})
          </Field>
        </>
      ) : null}
    </Box>
  );
}
