import { NotAllowedError } from '../errors.js';
import { requestUrn, serverUserFor } from './server-user.js';
import type { AccessRequest, OperatorConfig, OperatorFormat } from './types.js';

/** The sandbox's shared read-only profile (ClickHouse 18.16 there has no per-user constraints). */
export const READONLY_PROFILE = 'byoc_readonly';

/**
 * Legacy: the per-engineer user name of the first design, folded and therefore ambiguous
 * (`alice.vendor@example` and `alice@vendor.example` meet). The operator step no longer uses it: every
 * request gets its own user, `serverUserFor(request id, identity)`.
 */
export function clickhouseUserFor(identity: string): string {
  return `byoc_${identity.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`;
}

/** Oldest ClickHouse that matches a certificate user by subjectAltName (ClickHouse PR 65626, release 24.7). */
const MIN_CLICKHOUSE_VERSION = '24.7';

/** Where a users.d file for a request goes (the Debian/RPM and official image layout). */
const USERS_D = '/etc/clickhouse-server/users.d';

export interface PinnedSetting {
  name: string;
  value: number | string;
  why: string;
}

/** Settings the request's user has and cannot change (CONST): what keeps it read-only and audited. */
export const PINNED_SETTINGS: readonly PinnedSetting[] = [
  { name: 'readonly', value: 1, why: 'reads only, and no setting changes except those below' },
  { name: 'log_queries', value: 1, why: "every query lands in the customer's query_log" },
  { name: 'log_queries_min_type', value: 'QUERY_START', why: 'logged from the start, not only on completion or error' },
  { name: 'log_queries_min_query_duration_ms', value: 0, why: 'short queries are logged too' },
];

export interface ChangeableSetting {
  name: string;
  /** the user's value when a query does not set it (absent: the server's) */
  value?: number;
  min?: number;
  max?: number;
}

const GiB = 1024 ** 3;

/**
 * What a query of this user may still set in readonly = 1 (CHANGEABLE_IN_READONLY), and within which bounds:
 * `log_comment` (byoc's attribution tag) and the limits byoc sends (src/clickhouse/run.ts) or its guard lets a
 * query set (ALLOWED_SETTINGS in src/clickhouse/guard.ts). MIN 1 keeps 0 ("no limit") out of reach; MAX caps
 * how far a query may loosen a limit. `allow_introspection_functions`, which the guard also lets through, stays
 * fixed: it is no limit, and the user has no INTROSPECTION grant for it to unlock.
 */
export const CHANGEABLE_SETTINGS: readonly ChangeableSetting[] = [
  { name: 'log_comment' },
  { name: 'max_execution_time', value: 60, min: 1, max: 600 },
  { name: 'max_result_rows', value: 1_000_000, min: 1, max: 1_000_000 },
  { name: 'max_result_bytes', value: GiB, min: 1, max: GiB },
  { name: 'max_rows_to_read', min: 1, max: 10_000_000_000 },
  { name: 'max_bytes_to_read', min: 1, max: 1024 * GiB },
  { name: 'max_memory_usage', min: 1, max: 8 * GiB },
  { name: 'max_threads', min: 1, max: 16 },
  { name: 'max_block_size', min: 1024, max: 1_048_576 },
  { name: 'max_rows_to_group_by', min: 1, max: 100_000_000 },
  { name: 'result_overflow_mode' },
  { name: 'read_overflow_mode' },
  { name: 'timeout_overflow_mode' },
  { name: 'group_by_overflow_mode' },
];

/** What the server needs for CHANGEABLE_IN_READONLY; without it ClickHouse refuses the user outright. */
const SERVER_REQUIREMENT = 'access_control_improvements.settings_constraints_replace_previous = true';

/**
 * The operator step for one request, on the customer's ClickHouse: for an approved request its own user
 * (`create`), for a revoked or expired one the removal of that user (`drop`). A request that was never approved
 * has no user, so there is nothing to render: refused with what to do instead.
 */
export function renderOperatorConfig(request: AccessRequest, format: OperatorFormat): OperatorConfig {
  const action = actionFor(request);
  const user = serverUserFor(request.id, request.requester);
  const subjectAltName = `URI:${requestUrn(request.id)}`;
  const facts: Facts = { request, user, subjectAltName, notAfter: request.notAfter! };
  const file = `${USERS_D}/${user}.xml`;
  const content =
    format === 'sql'
      ? action === 'create' ? sqlCreate(facts) : sqlDrop(facts)
      : action === 'create' ? xmlCreate(facts, file) : xmlDrop(facts, file);
  return {
    requestId: request.id,
    format,
    user,
    commonName: request.requester,
    content,
    action,
    status: request.status,
    subjectAltName,
    notAfter: request.notAfter!,
    ...(format === 'xml' ? { file } : {}),
  };
}

function actionFor(request: AccessRequest): 'create' | 'drop' {
  if (request.status === 'approved') return 'create';
  if ((request.status === 'revoked' || request.status === 'expired') && request.notAfter) return 'drop';
  const why =
    request.status === 'pending'
      ? `${request.id} is pending: there is no user to create until it is approved`
      : request.status === 'denied'
        ? `${request.id} was denied: no user was ever created for it`
        : `${request.id} was ${request.status} before anyone approved it: no user was ever created for it, so there is nothing to remove`;
  const hint =
    request.status === 'pending'
      ? `Wait for approval (byoc access wait ${request.id}), then run byoc access operator-config ${request.id} again.`
      : request.status === 'denied'
        ? 'A denial is final; nothing to do on the server. The requester can open a new request.'
        : 'Nothing to do on the server. The requester can open a new request.';
  throw new NotAllowedError('request_not_approved', why, { hint });
}

interface Facts {
  request: AccessRequest;
  user: string;
  subjectAltName: string;
  notAfter: string;
}

function sqlCreate({ request, user, subjectAltName, notAfter }: Facts): string {
  const settings = [
    ...PINNED_SETTINGS.map((setting) => `${setting.name} = ${sqlValue(setting.value)} CONST`),
    ...CHANGEABLE_SETTINGS.map(
      (setting) =>
        `${setting.name}${setting.value === undefined ? '' : ` = ${setting.value}`}${setting.min === undefined ? '' : ` MIN ${setting.min}`}${setting.max === undefined ? '' : ` MAX ${setting.max}`} CHANGEABLE_IN_READONLY`,
    ),
  ];
  return `${sqlComments([
    ...header(request, 'create'),
    `Access ends ${validUntil(notAfter)}: VALID UNTIL stops this user's logins then, and the certificate expires`,
    'then too, even if nobody runs the removal. On revoke or expiry run what this command prints then:',
    `DROP USER IF EXISTS ${user}`,
    `The user accepts only a certificate with subjectAltName ${subjectAltName}, issued for this request alone`,
    '(never matched by the common name, which all of the engineer\'s grants share); it is read-only, its query',
    'logging cannot be turned off, only log_comment and bounded limits can be set per query, and it may read the',
    'system database only.',
    `Needs ClickHouse ${MIN_CLICKHOUSE_VERSION} or later with ${SERVER_REQUIREMENT}`,
    '(the default since 24.1); without it CREATE USER fails ("CHANGEABLE_IN_READONLY ... is not allowed") and',
    'nothing is created. The server must verify client certificates against the broker CA (GET /v1/ca).',
  ])}
CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH ssl_certificate SAN ${sqlString(subjectAltName)} VALID UNTIL ${sqlString(validUntil(notAfter))} SETTINGS ${settings.join(', ')};
REVOKE ALL ON *.* FROM ${user};
GRANT SELECT ON system.* TO ${user};
`;
}

function sqlDrop({ request, user }: Facts): string {
  return `${sqlComments([...header(request, 'drop'), ...removalNote(request, "the user's VALID UNTIL and the certificate")])}
DROP USER IF EXISTS ${user};
KILL QUERY WHERE user = ${sqlString(user)} ASYNC;
`;
}

function xmlCreate({ request, user, subjectAltName, notAfter }: Facts, file: string): string {
  const values = [
    ...PINNED_SETTINGS.map((setting) => `      <${setting.name}>${xmlText(String(setting.value))}</${setting.name}>`),
    ...CHANGEABLE_SETTINGS.filter((setting) => setting.value !== undefined).map((setting) => `      <${setting.name}>${setting.value}</${setting.name}>`),
  ];
  const constraints = [
    ...PINNED_SETTINGS.map((setting) => `        <${setting.name}><const/></${setting.name}>`),
    ...CHANGEABLE_SETTINGS.map(
      (setting) =>
        `        <${setting.name}>${setting.min === undefined ? '' : `<min>${setting.min}</min>`}${setting.max === undefined ? '' : `<max>${setting.max}</max>`}<changeable_in_readonly/></${setting.name}>`,
    ),
  ];
  return `<?xml version="1.0"?>
${xmlComments([
    ...header(request, 'create'),
    `Save as ${file}; ClickHouse picks up users.d changes without a restart.`,
    `Access ends ${validUntil(notAfter)}: the certificate expires then, but users.d has no expiry of its own,`,
    `so delete this file at revoke or expiry (this command prints the removal for ${request.id} then).`,
    `The user accepts only a certificate with subjectAltName ${subjectAltName} (ssl_certificates/subject_alt_name;`,
    'common_name is deliberately not used: all of the engineer\'s grants share it). Read-only, query logging',
    'pinned, only log_comment and bounded limits changeable per query, SELECT on the system database only.',
    `Needs ClickHouse ${MIN_CLICKHOUSE_VERSION} or later with ${SERVER_REQUIREMENT}`,
    '(the default since 24.1); without it ClickHouse refuses this file (changeable_in_readonly). The server must',
    'verify client certificates against the broker CA (GET /v1/ca).',
  ])}
<clickhouse>
  <profiles>
    <${user}>
${values.join('\n')}
      <constraints>
${constraints.join('\n')}
      </constraints>
    </${user}>
  </profiles>
  <users>
    <${user}>
      <ssl_certificates>
        <subject_alt_name>${xmlText(subjectAltName)}</subject_alt_name>
      </ssl_certificates>
      <profile>${user}</profile>
      <networks>
        <ip>::/0</ip>
      </networks>
      <grants>
        <query>GRANT SELECT ON system.*</query>
      </grants>
    </${user}>
  </users>
</clickhouse>
`;
}

function xmlDrop({ request, user }: Facts, file: string): string {
  return `<?xml version="1.0"?>
${xmlComments([
    ...header(request, 'drop'),
    ...removalNote(request, 'the certificate'),
    `Delete ${file}. Overwriting it with this document (which defines nothing) removes the user as well.`,
    `Then stop what it still runs: KILL QUERY WHERE user = ${sqlString(user)} ASYNC`,
  ])}
<clickhouse>
</clickhouse>
`;
}

function header(request: AccessRequest, action: 'create' | 'drop'): string[] {
  const approval = request.reviews.filter((review) => review.decision === 'approve').map((review) => `${text(review.reviewer)} at ${review.at}`);
  const lines = [
    `byoc operator step for request ${request.id}: ${action === 'create' ? 'create its ClickHouse user' : 'remove its ClickHouse user'}`,
    `engineer ${text(request.requester)}, service ${text(request.service)}${request.ticket ? `, ticket ${text(request.ticket)}` : ''}`,
    `approved by ${approval.join(', ') || '(unknown)'}; grant end ${validUntil(request.notAfter!)}`,
  ];
  return lines;
}

function removalNote(request: AccessRequest, stoppedBy: string): string[] {
  const why =
    request.status === 'revoked'
      ? `Revoked by ${text(request.revokedBy ?? '(unknown)')} at ${request.revokedAt}.`
      : `Expired at ${request.notAfter}: ${stoppedBy} already stopped its logins; this removes the user.`;
  return [
    why,
    "Removes only this request's user; the engineer's other grants (their own byoc_r_ users) keep working.",
    "Dropping a user ends its logins, not the queries it already started (the engineer's own KILL QUERY no longer",
    'gets through once the certificate is refused): the KILL QUERY stops those.',
  ];
}

/** `2026-11-21 12:10:00 UTC`: ClickHouse reads VALID UNTIL in the server's time zone unless one is named. */
function validUntil(iso: string): string {
  // Seconds are truncated, never rounded up: the user stops at or before the grant's end.
  return `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * Free text (identities, service, ticket) only ever reaches a comment, as a JSON string kept to printable ASCII:
 * a newline in an identity can never end the comment and start a statement.
 */
function text(value: string): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sqlComments(lines: string[]): string {
  return lines.map((line) => `-- ${line}`).join('\n');
}

function xmlComments(lines: string[]): string {
  // `--` may not appear inside an XML comment.
  return lines.map((line) => `<!-- ${line.replace(/--/g, '-\\u002d')} -->`).join('\n');
}

function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function sqlValue(value: number | string): string {
  return typeof value === 'number' ? String(value) : sqlString(value);
}

function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
