import { describe, expect, it } from 'vitest';
import type { QueryRow } from '../../../src/audit/audit.js';
import { OCSF_VERSION, ocsfLogin, ocsfQuery } from '../../../src/audit/ocsf.js';

/**
 * The requirements written down from ocsf-schema 1.x (github.com/ocsf/ocsf-schema):
 * - events/base_event.json + dictionary traits classification/occurrence: activity_id, category_uid, class_uid,
 *   type_uid (class_uid * 100 + activity_id), severity_id, time, metadata: required; status_id, message recommended
 * - objects/metadata.json: product and version required; objects/product.json: name, vendor_name recommended
 * - events/application/datastore_activity.json (uid 5 in category 6: class_uid 6005): actor and src_endpoint
 *   required; at least one of database, databucket, table
 * - events/iam/authentication.json (uid 2 in category 3: class_uid 3002): user required; at least one of service,
 *   dst_endpoint
 * - objects/user.json: at least one of account, name, uid; objects/network_endpoint.json: at least one of ip,
 *   uid, name, hostname, ...
 */
const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata'];
const CLASSES = {
  6005: { category_uid: 6, required: ['actor', 'src_endpoint'], atLeastOne: ['database', 'databucket', 'table'] },
  3002: { category_uid: 3, required: ['user'], atLeastOne: ['service', 'dst_endpoint'] },
} as const;

function requiredProblems(event: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const field of BASE_REQUIRED) if (event[field] === undefined || event[field] === null) problems.push(`missing ${field}`);
  const metadata = event.metadata as { version?: string; product?: object } | undefined;
  if (!metadata?.product) problems.push('missing metadata.product');
  if (!/^1\.\d+\.\d+$/.test(metadata?.version ?? '')) problems.push(`metadata.version ${metadata?.version} is not 1.x`);
  const spec = CLASSES[event.class_uid as keyof typeof CLASSES];
  if (!spec) return [...problems, `unknown class ${String(event.class_uid)}`];
  if (event.category_uid !== spec.category_uid) problems.push('wrong category_uid');
  if (event.type_uid !== (event.class_uid as number) * 100 + (event.activity_id as number)) problems.push('type_uid is not class_uid * 100 + activity_id');
  if (typeof event.time !== 'number' || !Number.isInteger(event.time)) problems.push('time is not epoch milliseconds');
  for (const field of spec.required) if (event[field] === undefined) problems.push(`missing ${field}`);
  if (!spec.atLeastOne.some((field) => event[field] !== undefined)) problems.push(`none of ${spec.atLeastOne.join(', ')}`);
  return problems;
}

const CONTEXT = { byocVersion: '0.0.0-test', server: 'https://clickhouse.customer.example:8443' };
const ROW: QueryRow = {
  time: '2026-11-21T09:01:00.000Z', user: 'byoc_r_aaaaaaaaaa_alice_40vendor_2eexample', engineer: 'alice@vendor.example', requestId: 'r-aaaaaaaaaa',
  queryId: 'byoc-r-aaaaaaaaaa-1', type: 'finish', readRows: 10, readBytes: 1000, durationMs: 3, error: null, tables: ['system.merges'],
  query: 'SELECT * FROM system.merges', taggedRequestId: 'r-aaaaaaaaaa',
};

describe('OCSF export', () => {
  it('a query is a Datastore Activity (6005) Query event with every required field of the schema', () => {
    // Given an engineer query row; When it is exported
    const event = ocsfQuery(ROW, CONTEXT);
    // Then it has the base event's and the class's required fields, and names the engineer, the request and the query
    expect(requiredProblems(event)).toEqual([]);
    expect(event).toMatchObject({
      class_uid: 6005, activity_id: 4, type_uid: 600504, status_id: 1, time: Date.parse(ROW.time), metadata: { version: OCSF_VERSION, product: { name: 'byoc' } },
      actor: { user: { name: 'alice@vendor.example', uid: ROW.user } }, query_info: { query_string: ROW.query, uid: ROW.queryId },
      dst_endpoint: { hostname: 'clickhouse.customer.example', port: 8443 }, table: { name: 'system.merges' },
    });
  });

  it('a refused query is a Failure with the server error, and a query naming no table still meets at-least-one (database)', () => {
    const event = ocsfQuery({ ...ROW, type: 'exception-before-start', error: 'Code: 497. ACCESS_DENIED', tables: [] }, CONTEXT);
    expect(requiredProblems(event)).toEqual([]);
    expect(event).toMatchObject({ status_id: 2, status: 'Failure', status_detail: 'Code: 497. ACCESS_DENIED', severity_id: 2 });
    expect(event.table).toBeUndefined();
  });

  it('a failed login is an Authentication (3002) Logon Failure with its required fields', () => {
    const event = ocsfLogin({ time: '2026-11-21T09:00:00.000Z', user: ROW.user, engineer: 'alice@vendor.example', success: false, reason: 'WRONG_PASSWORD', clientAddress: '10.0.0.7' }, CONTEXT);
    expect(requiredProblems(event)).toEqual([]);
    expect(event).toMatchObject({ class_uid: 3002, activity_id: 1, type_uid: 300201, status_id: 2, user: { name: ROW.user }, src_endpoint: { ip: '10.0.0.7' } });
  });

  it('the checker itself catches a missing required field (it can fail)', () => {
    const { actor: _actor, ...withoutActor } = ocsfQuery(ROW, CONTEXT);
    expect(requiredProblems(withoutActor)).toEqual(['missing actor']);
    expect(requiredProblems({ ...ocsfQuery(ROW, CONTEXT), type_uid: 600501 })).toEqual(['type_uid is not class_uid * 100 + activity_id']);
  });
});

describe("the README's OCSF sample", () => {
  it('is exactly what byoc writes for the row it describes', async () => {
    // Given the sample in the README
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### SIEM export: `--format ocsf`'));
    const sample = JSON.parse(section.slice(section.indexOf('```json\n') + 8, section.indexOf('\n```', section.indexOf('```json\n'))));
    // When byoc exports the row the sample shows
    const row: QueryRow = {
      time: '2026-11-21T09:01:00.000Z', user: 'byoc_r_0abc123xyz_alice_40vendor_2eexample', engineer: 'alice@vendor.example', requestId: 'r-0abc123xyz',
      queryId: 'byoc-r-0abc123xyz-5b0c6a7e-2f4d-4c1e-9a43-1d2e3f4a5b6c', type: 'finish', readRows: 12, readBytes: 2048, durationMs: 4, error: null,
      tables: ['system.merges'], query: 'SELECT database, table, elapsed FROM system.merges', taggedRequestId: 'r-0abc123xyz',
    };
    // Then it is the same event, and it meets the schema's required fields
    expect(ocsfQuery(row, { byocVersion: '0.1.0', server: 'https://clickhouse.internal:8443' })).toEqual(sample);
    expect(requiredProblems(sample)).toEqual([]);
  });
});
