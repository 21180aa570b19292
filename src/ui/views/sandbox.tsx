import { Box, Text } from 'ink';
import type { SandboxDownResult, SandboxStatus, SandboxUpResult } from '../../sandbox/sandbox.js';
import { padCells } from '../text.js';

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Text>
      <Text dimColor>{padCells(label, 12)}</Text>
      {children}
    </Text>
  );
}

function State({ ok, text, color }: { ok: boolean; text: string; color: boolean }) {
  return <Text bold {...(color ? { color: ok ? 'green' : 'red' } : {})}>{text}</Text>;
}

export interface SandboxUpViewProps {
  result: SandboxUpResult;
  color: boolean;
}

export function SandboxUpView({ result, color }: SandboxUpViewProps) {
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>sandbox</Text> <State ok text={result.alreadyRunning ? 'already running' : 'started'} color={color} />
      </Text>
      <Field label="engineers">{result.nginx.url} (mutual TLS, broker CA)</Field>
      <Field label="clickhouse">127.0.0.1:{result.clickhouse.httpPort} http, :{result.clickhouse.tcpPort} native (pid {result.clickhouse.pid})</Field>
      <Field label="metrics">{result.nginx.metricsUrl} (mutual TLS, metrics scope, read endpoints only)</Field>
      <Field label="nginx">127.0.0.1:{result.nginx.port}, :{result.nginx.metricsPort} (pid {result.nginx.pid})</Field>
      <Field label="prometheus">{result.prometheus.url} (pid {result.prometheus.pid}), node exporter :{result.nodeExporter.port} (pid {result.nodeExporter.pid})</Field>
      <Field label="customer">{result.customer.user} at {result.customer.url}, password in {result.customer.passwordFile}</Field>
      <Field label="demo">{result.requester} requests, {result.approver} approves</Field>
      <Text dimColor>  BYOC_USER={result.requester} byoc access request sandbox --reason "demo"</Text>
    </Box>
  );
}

export interface SandboxStatusViewProps {
  status: SandboxStatus;
  color: boolean;
}

export function SandboxStatusView({ status, color }: SandboxStatusViewProps) {
  const line = (name: string, part: { running: boolean; healthy: boolean; pid?: number | undefined }, where: string) => (
    <Field label={name}>
      <State ok={part.running && part.healthy} text={part.running ? (part.healthy ? 'up' : 'not answering') : 'stopped'} color={color} />
      {part.pid !== undefined ? ` pid ${part.pid}` : ''} {where}
    </Field>
  );
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>sandbox</Text> <State ok={status.up} text={status.up ? 'up' : status.configured ? 'down' : 'never started'} color={color} />
      </Text>
      {line('clickhouse', status.clickhouse, status.clickhouse.httpUrl ?? '')}
      {line('nginx', status.nginx, [status.nginx.url, status.nginx.metricsUrl].filter(Boolean).join(', '))}
      {line('prometheus', status.prometheus, status.prometheus.url ?? '')}
      {line('exporter', status.nodeExporter, status.nodeExporter.port !== undefined ? `127.0.0.1:${status.nodeExporter.port}` : '')}
      <Field label="grants">{status.grants.length ? status.grants.map((grant) => `${grant.requestId} ${grant.identity} (${(grant.scopes ?? ['clickhouse']).join(', ')})${(grant.scopes ?? ['clickhouse']).includes('clickhouse') ? ` -> ${grant.user}` : ''} until ${grant.notAfter}`).join(', ') : 'none approved'}</Field>
      <Field label="folder">{status.paths.root}</Field>
    </Box>
  );
}

export interface SandboxDownViewProps {
  result: SandboxDownResult;
  color: boolean;
}

export function SandboxDownView({ result, color }: SandboxDownViewProps) {
  const line = (report: SandboxDownResult['clickhouse']) =>
    report.wasRunning ? `stopped (pid ${report.pid}${report.stoppedWith ? `, ${report.stoppedWith}` : ''})` : 'was not running';
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>sandbox</Text> <State ok text="down" color={color} />
      </Text>
      <Field label="clickhouse">{line(result.clickhouse)}</Field>
      <Field label="nginx">{line(result.nginx)}</Field>
      <Field label="prometheus">{line(result.prometheus)}</Field>
      <Field label="exporter">{line(result.nodeExporter)}</Field>
      <Field label="service">{result.unregistered ? 'unregistered' : 'was not registered'}</Field>
      <Field label="data">{result.purged ? 'deleted' : `kept in ${result.stateDir}/sandbox (byoc sandbox up reuses it)`}</Field>
    </Box>
  );
}
