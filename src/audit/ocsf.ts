import type { QueryRow } from './audit.js';

/**
 * OCSF 1.x events for a SIEM, written by hand: OCSF publishes JSON schema files, not a library for producing
 * events, and the two classes byoc emits need a dozen fields. Class and field requirements are those of
 * ocsf-schema 1.x: events/application/datastore_activity.json (class_uid 6005, category 6 Application Activity),
 * events/iam/authentication.json (3002, category 3 Identity & Access Management), events/base_event.json with
 * traits classification and occurrence (activity_id, category_uid, class_uid, type_uid, severity_id, time,
 * metadata) and objects/metadata.json (product and version required).
 */
export const OCSF_VERSION = '1.3.0';

const DATASTORE = { class_uid: 6005, class_name: 'Datastore Activity', category_uid: 6, category_name: 'Application Activity' } as const;
const AUTHENTICATION = { class_uid: 3002, class_name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management' } as const;
/** datastore_activity activity_id 4 */
const QUERY = { activity_id: 4, activity_name: 'Query' } as const;
/** authentication activity_id 1 */
const LOGON = { activity_id: 1, activity_name: 'Logon' } as const;

interface OcsfBase {
  activity_id: number;
  activity_name: string;
  category_uid: number;
  category_name: string;
  class_uid: number;
  class_name: string;
  type_uid: number;
  severity_id: number;
  severity: string;
  status_id: number;
  status: string;
  time: number;
  message: string;
  metadata: { version: string; product: { name: string; vendor_name: string; version: string }; uid?: string; log_name: string };
}

export interface OcsfContext {
  byocVersion: string;
  /** the ClickHouse URL audited (no credentials: the audit refuses a URL with them) */
  server: string;
}

const STATUS = { success: { status_id: 1, status: 'Success' }, failure: { status_id: 2, status: 'Failure' } } as const;
const SEVERITY = { informational: { severity_id: 1, severity: 'Informational' }, low: { severity_id: 2, severity: 'Low' } } as const;

function base(kind: typeof DATASTORE | typeof AUTHENTICATION, activity: { activity_id: number; activity_name: string }, time: string, context: OcsfContext, uid: string | undefined, message: string) {
  return {
    ...activity,
    ...kind,
    // type_uid is class_uid * 100 + activity_id (base_event.json)
    type_uid: kind.class_uid * 100 + activity.activity_id,
    time: Date.parse(time),
    message,
    metadata: { version: OCSF_VERSION, product: { name: 'byoc', vendor_name: 'byoc', version: context.byocVersion }, log_name: 'system.query_log', ...(uid ? { uid } : {}) },
  };
}

function endpoint(server: string): { hostname: string; port?: number; svc_name: string } {
  const url = new URL(server);
  return { hostname: url.hostname, ...(url.port ? { port: Number(url.port) } : {}), svc_name: 'clickhouse' };
}

/** One engineer query as a Datastore Activity event (Query). A refused or failed query is a Failure, with the server's error. */
export function ocsfQuery(row: QueryRow, context: OcsfContext): OcsfBase & Record<string, unknown> {
  const failed = row.type !== 'finish';
  return {
    ...base(DATASTORE, QUERY, row.time, context, row.queryId || undefined, `${row.engineer} ran a query${row.requestId ? ` under ${row.requestId}` : ''}${failed ? ' that failed' : ''}`),
    ...(failed ? SEVERITY.low : SEVERITY.informational),
    ...(failed ? STATUS.failure : STATUS.success),
    ...(row.error ? { status_detail: row.error.slice(0, 500) } : {}),
    actor: { user: { name: row.engineer, uid: row.user }, ...(row.requestId ? { authorizations: [{ decision: 'approved', policy: { uid: row.requestId, name: 'byoc access request' } }] } : {}) },
    // query_log as read here carries no client address: the source is named by the server user the query ran as
    src_endpoint: { name: row.user },
    dst_endpoint: endpoint(context.server),
    database: { name: 'clickhouse', type: 'ClickHouse', type_id: 99 },
    ...(row.tables.length ? { table: { name: row.tables[0] } } : {}),
    query_info: { uid: row.queryId, query_string: row.query, ...(row.readRows ? { data: { rows_read: row.readRows, bytes_read: row.readBytes } } : {}) },
    duration: row.durationMs,
    type_id: 1,
    type: 'Database',
    unmapped: { request_id: row.requestId, tagged_request_id: row.taggedRequestId, query_log_type: row.type, read_rows: row.readRows, read_bytes: row.readBytes, tables: row.tables },
  };
}

export interface LoginAttempt {
  time: string;
  /** the ClickHouse user named in the attempt */
  user: string;
  engineer: string;
  success: boolean;
  reason?: string | undefined;
  clientAddress?: string | undefined;
}

/** One login (from system.session_log, where the server has it) as an Authentication event (Logon). */
export function ocsfLogin(login: LoginAttempt, context: OcsfContext): OcsfBase & Record<string, unknown> {
  return {
    ...base(AUTHENTICATION, LOGON, login.time, context, undefined, `${login.engineer} ${login.success ? 'logged in' : 'failed to log in'} as ${login.user}`),
    ...(login.success ? SEVERITY.informational : SEVERITY.low),
    ...(login.success ? STATUS.success : STATUS.failure),
    ...(login.reason ? { status_detail: login.reason } : {}),
    user: { name: login.user },
    actor: { user: { name: login.engineer } },
    service: { name: 'ClickHouse' },
    dst_endpoint: endpoint(context.server),
    ...(login.clientAddress ? { src_endpoint: { ip: login.clientAddress } } : {}),
    is_remote: true,
    logon_type_id: 3,
    logon_type: 'Network',
  };
}
