import type { AccessRequest, OperatorConfig, OperatorFormat } from './types.js';

export const READONLY_PROFILE = 'byoc_readonly';

/**
 * The ClickHouse user an engineer's certificate maps to. ClickHouse user names in users.d XML are element
 * names, which cannot hold `@` or `.`, so the identity is folded to a safe name; the certificate's CN stays the
 * identity. The `byoc_` prefix is how the customer's audit recognises engineer users.
 */
export function clickhouseUserFor(identity: string): string {
  return `byoc_${identity.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`;
}

/** What the customer's ClickHouse needs to accept the engineer's certificate: read-only, system tables only. */
export function renderOperatorConfig(request: AccessRequest, format: OperatorFormat): OperatorConfig {
  const user = clickhouseUserFor(request.requester);
  const header = `byoc operator step for ${request.id}: ${request.requester} on ${request.service}, approved until ${request.notAfter}`;
  const content = format === 'sql' ? sql(user, request.requester, header) : xml(user, request.requester, header);
  return { requestId: request.id, format, user, commonName: request.requester, content };
}

function sql(user: string, commonName: string, header: string): string {
  const cn = commonName.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return `-- ${header}
-- Access ends when the certificate expires; drop the user after the incident: DROP USER IF EXISTS ${user};
CREATE SETTINGS PROFILE IF NOT EXISTS ${READONLY_PROFILE} SETTINGS readonly = 1, max_execution_time = 60, max_result_rows = 1000000;
CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH ssl_certificate CN '${cn}' SETTINGS PROFILE '${READONLY_PROFILE}';
REVOKE ALL ON *.* FROM ${user};
GRANT SELECT ON system.* TO ${user};
GRANT SELECT ON information_schema.* TO ${user};
`;
}

function xml(user: string, commonName: string, header: string): string {
  const cn = commonName.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!-- ${header.replace(/--/g, '- -')} -->
<!-- Save as /etc/clickhouse-server/users.d/${user}.xml; delete the file after the incident. -->
<clickhouse>
  <profiles>
    <${READONLY_PROFILE}>
      <readonly>1</readonly>
      <max_execution_time>60</max_execution_time>
      <max_result_rows>1000000</max_result_rows>
    </${READONLY_PROFILE}>
  </profiles>
  <users>
    <${user}>
      <ssl_certificates>
        <common_name>${cn}</common_name>
      </ssl_certificates>
      <profile>${READONLY_PROFILE}</profile>
      <quota>default</quota>
      <networks>
        <ip>::/0</ip>
      </networks>
      <allow_databases>
        <database>system</database>
        <database>information_schema</database>
        <database>INFORMATION_SCHEMA</database>
      </allow_databases>
    </${user}>
  </users>
</clickhouse>
`;
}
