import { defineCommand } from '../../src/command.js';
import { NotAllowedError } from '../../src/errors.js';

interface VerifyResult {
  /** where the events are: the JSONL log's file, or the PostgreSQL store (its URL without the password) */
  store: string;
  intact: boolean;
  /** events walked (the torn tail not included) */
  events: number;
  /** of which written before the chain existed (a prefix the chain continues from) */
  unchained: number;
  /** intact: the hash of the last event, the `prev` the next one will name */
  head?: string;
  /** broken: the first record whose link does not hold, what it should name and what it names */
  brokenAt?: string;
  expected?: string;
  found?: string | null;
  problem?: string;
  /** a last line without its newline: an interrupted write (or one under way), not an event and not tampering */
  torn?: { where: string; bytes: number };
}

export default defineCommand({
  examples: ['byoc broker verify', 'byoc broker verify --json | jq -r .head'],
  async run(_options, ctx): Promise<VerifyResult> {
    const [{ brokerDir }, { readLogRecords }, { verifyChain }, { postgresRecords }, path] = await Promise.all([
      import('../../src/access/broker.js'),
      import('../../src/access/store.js'),
      import('../../src/access/chain.js'),
      import('../../src/access/open.js'),
      import('node:path'),
    ]);
    // Reads the records without the writer lock (each store's records() is a consistent prefix), so this works
    // while `byoc broker serve` holds the store, or while replicas write to the database.
    let store: string;
    let torn: VerifyResult['torn'];
    let report: Awaited<ReturnType<typeof verifyChain>>;
    const database = await postgresRecords(ctx, await ctx.config());
    if (database) {
      store = database.where;
      try {
        report = await verifyChain(database.records());
      } finally {
        await database.close();
      }
    } else {
      const dir = brokerDir(ctx.stateDir());
      store = path.join(dir, 'events.jsonl');
      report = await verifyChain(readLogRecords(dir, (record) => (torn = { where: record.where, bytes: Buffer.byteLength(record.text) })));
    }
    if (torn) ctx.log.warn(`${torn.where} of ${store} is torn (${torn.bytes} bytes without a newline): an interrupted write, or one under way; it was never acknowledged, is not an event, and the next writer cuts it off`);
    const result: VerifyResult = report.intact
      ? { store, intact: true, events: report.events, unchained: report.unchained, head: report.head }
      : { store, intact: false, events: report.events, unchained: report.unchained, brokenAt: report.brokenAt, expected: report.expected, found: report.found ?? null, problem: report.problem };
    if (torn) result.torn = torn;
    if (report.intact && report.events > 0) {
      ctx.log.info(`Keep the head hash somewhere else (a ticket, another machine): a cut at the very end of the log leaves the chain intact, and only a head recorded earlier shows it is missing.`);
    }
    return result;
  },
  text: (result) =>
    result.intact
      ? `${result.store}: chain intact, ${result.events} event${result.events === 1 ? '' : 's'} (${result.unchained} written before the chain)\nhead ${result.head}`
      : `${result.store}: chain broken at ${result.brokenAt} (${result.events - 1} event${result.events === 2 ? '' : 's'} before it intact)\nexpected prev ${result.expected}\nfound prev    ${result.found ?? '(none)'}`,
  async view(result, render) {
    const { VerifyView } = await import('../../src/ui/views/verify.js');
    return VerifyView({ ...result, color: render.color });
  },
  outcome: (result) =>
    result.intact
      ? undefined
      : new NotAllowedError('chain_broken', `the event log ${result.store} was changed: ${result.brokenAt} ${result.problem} (it names prev ${result.found ?? '(none)'}, the record before it hashes to ${result.expected})`, {
          hint: result.store.startsWith('postgres')
            ? `byoc only appends (and byoc_events refuses UPDATE and DELETE), so somebody with the table owner's rights changed events at or just before ${result.brokenAt}. Stop the brokers and restore the database from backup. To see what changed, compare SELECT seq, text FROM byoc_events ORDER BY seq with the backup's, starting at ${result.brokenAt}; the records before it are intact.`
            : `byoc only appends, so something else edited, removed or reordered events at or just before ${result.brokenAt}. Stop the broker and restore ${result.store} from backup. To see what changed, compare it with the backup (diff <backup>/events.jsonl ${result.store}), starting at ${result.brokenAt}; the records before it are intact.`,
        }),
});
