import path from 'node:path';
import { defineCommand, option } from '../../src/command.js';
import type { QueryRow } from '../../src/audit/audit.js';
import type { Manifest } from '../../src/audit/pack/pack.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import queryLog from './query-log.js';

interface ReportResult {
  dir: string;
  manifest: Manifest;
  findings: number;
  events: number;
}

// The connection and the audit's scope are query-log's settings, the same objects (declared once).
const { url, user, passwordEnv, ca, cert, key, cluster, sourceTable, since, until, engineer, request, userPattern, grants, flush } = queryLog.options!;

export default defineCommand({
  examples: [
    'byoc audit keygen && byoc audit report sandbox --flush --since 7d --out audit-pack',
    'CLICKHOUSE_PASSWORD=... byoc audit report --url https://clickhouse.internal:8443 --user auditor --grants grants.json --since 7d --out pack-2026-11',
  ],
  args: { service: { description: 'a service with an audit connection (e.g. sandbox), instead of --url' } },
  options: {
    url, user, passwordEnv, ca, cert, key, cluster, sourceTable, since, until, engineer, request, userPattern, grants, flush,
    out: option.path({ flag: '--out <dir>', key: 'audit.reportOut', env: 'BYOC_AUDIT_REPORT_OUT', description: 'the evidence pack folder to write (created; must be empty)' }),
    signingKey: option.path({
      flag: '--signing-key <file>', key: 'audit.signingKey', env: 'BYOC_AUDIT_SIGNING_KEY', defaultNote: 'audit/signing-key.pem in the state folder (byoc audit keygen)',
      description: 'the Ed25519 private key that signs the pack manifest',
    }),
  },
  async run(input, ctx): Promise<ReportResult> {
    if (!input.out) throw new UsageError('out_missing', 'byoc audit report needs a folder to write the pack to', { hint: `Add --out DIR, e.g. byoc audit report ${input.service ?? '--url URL'} --since ${input.since} --out audit-pack` });
    const [{ connectAudit }, audit, { loadGrants }, pack, { packSummary }, { renderReportHtml }, { readFile }] = await Promise.all([
      import('../../src/audit/session.js'),
      import('../../src/audit/audit.js'),
      import('../../src/audit/grants.js'),
      import('../../src/audit/pack/pack.js'),
      import('../../src/audit/pack/summary.js'),
      import('../../src/audit/html.js'),
      import('node:fs/promises'),
    ]);
    const dir = path.resolve(ctx.cwd, input.out);
    const keyFile = input.signingKey ? path.resolve(ctx.cwd, input.signingKey) : pack.defaultSigningKey(ctx.stateDir());
    let privatePem: string;
    try {
      privatePem = await readFile(keyFile, 'utf8');
      pack.publicKeyOf(privatePem);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new ConfigError('signing_key', missing ? `no signing key at ${keyFile}` : `${keyFile} is not an Ed25519 private key: ${(error as Error).message}`, {
        hint: missing ? `Create one with byoc audit keygen${input.signingKey ? ` --out ${input.signingKey}` : ''} and publish the public key it prints, or pass --signing-key FILE.` : 'Pass the key byoc audit keygen wrote (--signing-key FILE).',
      });
    }
    // The key is the customer's word that a pack is theirs: anyone who can read it can sign forged packs.
    const { stat } = await import('node:fs/promises');
    const mode = (await stat(keyFile)).mode & 0o777;
    if (mode & 0o077) ctx.log.warn(`${keyFile} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): anyone who can read it can sign packs in your name. chmod 600 ${keyFile}`);
    const filter = (await import('../../src/audit/window.js')).auditFilter(input, ctx.clock.now().getTime());
    const approved = input.grants ? await loadGrants(ctx, input.grants) : undefined;
    const connection = await connectAudit(ctx, { service: input.service, url: input.url, user: input.user, passwordEnv: input.passwordEnv, caFile: input.ca, certFile: input.cert, keyFile: input.key });
    const { session } = connection;
    let report: Awaited<ReturnType<typeof audit.runAudit>>;
    const events: QueryRow[] = [];
    try {
      report = await audit.runAudit(session, { filter, sourceTable: input.sourceTable, flush: input.flush, grants: approved }, ctx.signal);
      const schema = await audit.detectSchema(session, input.sourceTable, ctx.signal);
      for await (const row of audit.queryRows(session, schema, filter, undefined, ctx.signal)) events.push(row);
    } finally {
      await session.close();
    }
    // Servers without a `tables` column (18.x, 19.x): the SQL guard's extractor reads the text, as the audit does.
    const { extractTables } = report.schema.tables ? { extractTables: undefined } : await import('../../src/clickhouse/guard.js');
    const tablesOf = (row: QueryRow) => (row.tables.length || !extractTables ? row.tables : safely(() => extractTables(row.query)));
    const service = input.service ?? new URL(connection.url).host;
    const ndjson = (items: readonly unknown[]) => items.map((item) => `${JSON.stringify(item)}\n`).join('');
    const manifest = await pack.writePack(dir, {
      files: [
        { name: 'events.ndjson', content: ndjson(events) },
        { name: 'findings.ndjson', content: ndjson(report.findings) },
        { name: 'summary.json', content: `${JSON.stringify(packSummary(service, report, events, tablesOf), null, 2)}\n` },
        { name: 'report.html', content: renderReportHtml({ service, window: report.window, summary: report, events, ...(approved ? { grants: [...approved] } : {}) }) },
      ],
      createdAt: ctx.clock.now().toISOString(),
      byocVersion: ctx.version,
      service,
      server: connection.url,
      window: report.window,
      privatePem,
    }).catch((error: unknown) => {
      if (/is not empty/.test((error as Error).message)) throw new UsageError('out_not_empty', (error as Error).message, { hint: `A pack lists every file in its folder: choose a new folder (--out ${input.out}-2), or remove the old one.` });
      throw error;
    });
    ctx.log.info(`Signed with ${keyFile} (public key SHA-256 ${manifest.publicKeySha256}). Check it: byoc audit verify ${input.out} --public-key PUBLISHED.pem`);
    return { dir, manifest, findings: report.findings.length, events: events.length };
  },
  text: (result) => `${result.dir}: ${result.events} queries, ${result.findings} findings, ${result.manifest.files.length} files signed\n${result.manifest.files.map((file) => `${file.sha256}  ${file.name}`).join('\n')}`,
  json: (result) => result,
});

/** A query the extractor cannot parse touched no table it can name (the audit's findings still list it). */
function safely(extract: () => string[]): string[] {
  try {
    return extract();
  } catch {
    return [];
  }
}

