import { obtainCertificate, type UsableCertificate } from '../access/credentials.js';
import { serverUserFor } from '../access/server-user.js';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import type { ClickHouseTarget } from './client.js';
import type { StreamingSession } from './http.js';
import type { SettingsMemory } from './settings-memory.js';
import { applicationFor, queryIdFor, type QueryTags } from './run.js';

/** The client's idle timeout beyond a statement's own time limit: the deadline, which also cancels on the server, comes first. */
export const IDLE_MARGIN_MS = 5000;

export interface EngineerSession {
  url: string;
  session: StreamingSession;
  /** the settings level this service's server accepted last time (runTagged starts there) */
  settings: SettingsMemory;
  certificate: UsableCertificate;
  /** when the grant ends (or the certificate, if sooner), in ms since the epoch: where a long session must stop */
  endsAt: number;
  /** where and how the session connects (agent, user agent, the certificate's server user): for a relay of its own (byoc proxy) */
  target: ClickHouseTarget;
  tags: QueryTags;
  /** a fresh `byoc-<request>-<uuid>` for each query */
  nextQueryId(): string;
}

/**
 * A ClickHouse session for a service as the engineer: the usable certificate (or the exact next step), mutual
 * TLS through the network layer with the service's CA, and the tags every query carries for the audit.
 */
export async function openEngineerSession(ctx: Context, service: string, options: { timeoutMs: number }): Promise<EngineerSession> {
  const [{ agentFor }, { readConfiguredFile }, { settingsMemory }] = await Promise.all([import('../net/agents.js'), import('../config/files.js'), import('./settings-memory.js')]);
  const configuration = await ctx.config();
  const clickhouse = configuration.service(service).clickhouse;
  if (!clickhouse?.url) throw new UsageError('no_clickhouse', `service ${service} has no ClickHouse endpoint`, { hint: `Set services.${service}.clickhouse.url.` });
  const certificate = await obtainCertificate(ctx, service);
  const ca = clickhouse.caFile ? await readConfiguredFile(configuration, `services.${service}.clickhouse.caFile`, clickhouse.caFile, 'ca_file_unreadable') : undefined;
  const agent = await agentFor(ctx, new URL(clickhouse.url), { cert: certificate.certPem, key: certificate.keyPem, ...(ca ? { ca } : {}), keepAlive: true });
  const requestId = certificate.meta.requestId;
  const connector = await ctx.client('clickhouse');
  // The engineer's queries go over byoc's own request (connector.stream), not @clickhouse/client: see http.ts.
  const serverUser = serverUserFor(requestId, certificate.request.requester);
  const target: ClickHouseTarget = {
    url: clickhouse.url,
    service,
    requestId,
    agent,
    application: applicationFor(ctx.version, requestId),
    timeoutMs: options.timeoutMs,
    certificateUser: serverUser,
  };
  const session = await connector.stream(target);
  return {
    url: clickhouse.url,
    session,
    target,
    settings: settingsMemory(ctx.stateDir(), service, clickhouse.url, serverUser, () => ctx.clock.now()),
    certificate,
    // The certificate never outlives the grant, but a grant cut short (a shorter approval) ends first.
    endsAt: Math.min(Date.parse(certificate.meta.notAfter), Date.parse(certificate.request.notAfter ?? certificate.meta.notAfter)),
    tags: { requestId, engineer: certificate.request.requester, ticket: certificate.request.ticket },
    nextQueryId: () => queryIdFor(requestId),
  };
}
