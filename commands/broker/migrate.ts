import { defineCommand, option } from '../../src/command.js';
import type { Context } from '../../src/context.js';
import { ConfigError, NotAllowedError, UsageError } from '../../src/errors.js';

const isPostgres = (value: string | undefined): value is string => value !== undefined && /^postgres(ql)?:\/\//i.test(value);

interface MigrateResult {
  store: string;
  schema: { from: number; to: number; applied: number[] };
  copied?: { from: string; events: number; head: string; already: boolean; ca: 'copied' | 'same' | 'none' };
}

export default defineCommand({
  examples: [
    'BYOC_BROKER_STORE=postgres://byoc@db.internal:5432/byoc BYOC_BROKER_STORE_PASSWORD=... byoc broker migrate',
    'byoc broker migrate --from ~/.local/state/byoc/broker --to postgres://byoc@db.internal:5432/byoc',
  ],
  options: {
    from: option.path({
      flag: '--from <folder>', key: 'broker.migrateFrom', env: 'BYOC_BROKER_MIGRATE_FROM', inFile: false,
      description: "a JSONL broker store (folder) to copy into the PostgreSQL store: its event log, verbatim, and its CA",
    }),
    to: option.string({
      flag: '--to <postgres-url>', key: 'broker.migrateTo', env: 'BYOC_BROKER_MIGRATE_TO', inFile: false, defaultNote: 'broker.store',
      description: 'the PostgreSQL store to migrate (password from BYOC_BROKER_STORE_PASSWORD, PGPASSWORD or broker.storePasswordFile)',
    }),
  },
  async run({ from, to }, ctx): Promise<MigrateResult> {
    const configuration = await ctx.config();
    const target = to ?? configuration.get<string>('broker.store');
    if (!isPostgres(target)) {
      throw new UsageError('store_not_postgres', `byoc broker migrate works on a postgres:// store; ${target ? `broker.store is ${target}` : 'broker.store is unset (the JSONL folder, which has no schema)'}`, {
        hint: 'Name the database: --to postgres://user@host:5432/byoc, or set broker.store (BYOC_BROKER_STORE) to it.',
      });
    }
    const [{ storePassword, brokerStoreOptions }, { migrateStore }, { PostgresStore }, { redact }] = await Promise.all([
      import('../../src/access/open.js'),
      import('../../src/access/postgres/migrations.js'),
      import('../../src/access/postgres/store.js'),
      import('../../src/access/postgres/connection.js'),
    ]);
    const password = await storePassword(ctx, configuration);
    const schema = await migrateStore(target, password);
    ctx.log.info(schema.applied.length ? `schema of ${redact(target)}: version ${schema.from} -> ${schema.to}` : `schema of ${redact(target)}: version ${schema.to}, up to date`);
    if (!from) return { store: redact(target), schema };
    const copied = await copyFolder(ctx, from, { url: target, password, warn: (message) => ctx.log.warn(message) }, { PostgresStore, brokerStoreOptions });
    return { store: redact(target), schema, copied };
  },
  text: (result) =>
    [
      `${result.store}: schema version ${result.schema.to}${result.schema.applied.length ? ` (applied ${result.schema.applied.join(', ')})` : ' (up to date)'}`,
      ...(result.copied
        ? [
            result.copied.already
              ? `${result.copied.from}: already copied (${result.copied.events} events, head ${result.copied.head}); nothing to do`
              : `${result.copied.from}: ${result.copied.events} events copied, chain verified (head ${result.copied.head}); CA ${result.copied.ca}`,
          ]
        : []),
    ].join('\n'),
});

/**
 * Copies a JSONL store into an empty PostgreSQL store: the lines verbatim (so the copy's chain, head hash included,
 * is the original's) and the CA. Under the folder's writer lock, so nothing appends meanwhile (a serving broker on
 * it is named in the refusal). The source chain is verified first, the copy after (same count, same head). A
 * second run finding exactly that copy says so and succeeds; a store holding anything else is refused.
 */
async function copyFolder(
  ctx: Context,
  from: string,
  target: { url: string; password: string | undefined; warn: (message: string) => void },
  modules: { PostgresStore: typeof import('../../src/access/postgres/store.js').PostgresStore; brokerStoreOptions: typeof import('../../src/access/open.js').brokerStoreOptions },
): Promise<NonNullable<MigrateResult['copied']>> {
  const path = await import('node:path');
  const { existsSync } = await import('node:fs');
  const dir = path.resolve(ctx.cwd, from);
  if (!existsSync(path.join(dir, 'events.jsonl'))) {
    throw new UsageError('store_missing', `${dir} holds no broker event log (events.jsonl)`, {
      hint: 'Give the broker folder of a state folder, e.g. --from ~/.local/state/byoc/broker (the folder broker.store names).',
    });
  }
  const [{ EventLog, withStoreLock }, { verifyChain }, { readCaFiles }] = await Promise.all([
    import('../../src/access/store.js'),
    import('../../src/access/chain.js'),
    import('../../src/pki/ca.js'),
  ]);
  const options = modules.brokerStoreOptions(ctx);
  return withStoreLock(dir, options, async () => {
    const log = await EventLog.open(dir, () => undefined, options);
    const texts: string[] = [];
    try {
      for await (const record of log.records()) texts.push(record.text);
    } finally {
      await log.close();
    }
    const source = await verifyChain(texts.map((text, index) => ({ where: `line ${index + 1}`, text })));
    if (!source.intact) {
      throw new NotAllowedError('chain_broken', `${dir}: the event log's chain is broken at ${source.brokenAt} (${source.problem}); it is not copied`, {
        hint: `Run byoc broker verify on it, restore ${path.join(dir, 'events.jsonl')} from backup, then migrate again.`,
      });
    }
    const store = await modules.PostgresStore.connect(target);
    try {
      const existing = [];
      for await (const record of store.records()) existing.push(record);
      let already = false;
      if (existing.length > 0) {
        const there = await verifyChain(existing);
        already = there.intact && there.events === source.events && there.head === source.head;
        if (!already) {
          throw new ConfigError('store_not_empty', `${store.where} already holds ${existing.length} events that are not a copy of ${dir}`, {
            hint: 'Copy into an empty database (CREATE DATABASE, then byoc broker migrate --from ... --to it); byoc never merges two event logs.',
          });
        }
      } else {
        await store.importRecords(
          (async function* () {
            yield* texts;
          })(),
        );
      }
      // Verified from what the database now holds, not from what was sent.
      const copy = [];
      for await (const record of store.records()) copy.push(record);
      const after = await verifyChain(copy);
      if (!after.intact || after.events !== source.events || after.head !== source.head) {
        throw new ConfigError('copy_mismatch', `the copy in ${store.where} does not match ${dir} (${after.events} events vs ${source.events})`, {
          hint: 'Drop the database, create it again and rerun the migration; report it if it happens again.',
        });
      }
      const ca = await readCaFiles(dir);
      let caOutcome: 'copied' | 'same' | 'none' = 'none';
      if (ca) {
        if (await store.importCa(ca)) caOutcome = 'copied';
        else {
          const stored = await store.loadOrCreateCa(() => Promise.reject(new Error('unreachable: a CA is stored')));
          if (stored.certPem !== ca.certPem) {
            throw new ConfigError('ca_differs', `${store.where} already has another broker CA than ${path.join(dir, 'ca')}`, {
              hint: 'Servers trust one CA: copy into a database without one, or keep the one there and give servers its certificate (GET /v1/ca).',
            });
          }
          caOutcome = 'same';
        }
      }
      return { from: dir, events: source.events, head: source.head, already, ca: caOutcome };
    } finally {
      await store.close();
    }
  });
}
