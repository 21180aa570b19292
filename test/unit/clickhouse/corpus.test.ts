import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { checkQuery } from '../../../src/clickhouse/guard.js';
import { lex } from '../../../src/clickhouse/lexer.js';

/**
 * The guard against real SQL nobody here wrote (see test/fixtures/clickhouse-corpus/SOURCES.md):
 * read-only system-table diagnostics must pass, anything reading a customer table must not.
 */
interface Entry {
  source: string;
  sql: string;
}

const load = (name: string): Entry[] =>
  readFileSync(new URL(`../../fixtures/clickhouse-corpus/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Entry);

const SYSTEM = load('system.ndjson');
const CUSTOMER = load('customer.ndjson');

/** The statement with its first system table reference (in a table position) swapped for default.orders. */
function withCustomerTable(sql: string): string | undefined {
  const tokens = lex(sql).tokens.filter((token) => token.kind !== 'whitespace' && token.kind !== 'comment');
  for (let i = 1; i + 2 < tokens.length; i++) {
    const before = tokens[i - 1]!;
    const [db, dot, table] = [tokens[i]!, tokens[i + 1]!, tokens[i + 2]!];
    if (
      before.kind === 'word' &&
      /^(FROM|JOIN|IN|TABLE|DESCRIBE|DESC|EXISTS)$/i.test(before.text) &&
      db.kind === 'word' &&
      /^(system|information_schema)$/i.test(db.text) &&
      dot.text === '.' &&
      (table.kind === 'word' || table.kind === 'quoted')
    ) {
      return `${sql.slice(0, db.start)}default.orders${sql.slice(table.end)}`;
    }
  }
  return undefined;
}

interface Tally {
  statements: number;
  crashes: string[];
  refusals: Map<string, number>;
  refusedExamples: string[];
  falseAllows: string[];
}

const tally = (): Tally => ({ statements: 0, crashes: [], refusals: new Map(), refusedExamples: [], falseAllows: [] });
const system = tally();
const swapped = tally();
const customer = tally();

/** Runs the guard; a thrown error (checkQuery promises never to throw) or a non-verdict counts as a crash. */
function check(sql: string, into: Tally): boolean | undefined {
  into.statements++;
  try {
    const verdict = checkQuery(sql);
    if (typeof verdict.allowed !== 'boolean' || typeof verdict.reason !== 'string') throw new Error('no verdict');
    if (!verdict.allowed) {
      // Group reasons by their shape: names and offsets vary per statement.
      const shape = verdict.reason.replace(/'[^']*'/g, "'…'").replace(/offset \d+/g, 'offset N').slice(0, 100);
      into.refusals.set(shape, (into.refusals.get(shape) ?? 0) + 1);
    }
    return verdict.allowed;
  } catch (error) {
    into.crashes.push(`${sql.slice(0, 80)}: ${String(error)}`);
    return undefined;
  }
}

const refusedCount = (t: Tally): number => [...t.refusals.values()].reduce((sum, n) => sum + n, 0);

afterAll(() => {
  const lines = [
    `guard real-world corpus (test/fixtures/clickhouse-corpus):`,
    `  read-only system statements: ${system.statements}, crashes ${system.crashes.length}, refused ${refusedCount(system)} (${((100 * refusedCount(system)) / Math.max(1, system.statements)).toFixed(2)}%)`,
    ...[...system.refusals].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `    ${n} x ${reason}`),
    `  same statements reading default.orders: ${swapped.statements}, crashes ${swapped.crashes.length}, false allows ${swapped.falseAllows.length}`,
    `  real customer-table statements: ${customer.statements}, crashes ${customer.crashes.length}, false allows ${customer.falseAllows.length}`,
  ];
  console.log(lines.join('\n'));
});

describe('guard on a real-world corpus', () => {
  it('holds thousands of statements from more than one source', () => {
    // Given the fixture files / Then they are large and come from both the ClickHouse tests and the knowledge base
    expect(SYSTEM.length).toBeGreaterThan(3000);
    expect(CUSTOMER.length).toBeGreaterThan(1000);
    expect(SYSTEM.some((entry) => entry.source.startsWith('kb:'))).toBe(true);
    expect(SYSTEM.some((entry) => entry.source.startsWith('ch:'))).toBe(true);
  });

  it('allows read-only system statements (at most 0.5% refused, none crashing)', () => {
    // Given every read-only system-table statement / When checked
    for (const entry of SYSTEM) check(entry.sql, system);
    // Then none crashes and at most 0.5% are refused (each refusal reason is printed with its count)
    expect(system.crashes).toEqual([]);
    expect(refusedCount(system) / system.statements).toBeLessThanOrEqual(0.005);
  });

  it('refuses every one of them once it reads a customer table', () => {
    // Given each system statement with a system table swapped for default.orders / When checked
    for (const entry of SYSTEM) {
      const sql = withCustomerTable(entry.sql);
      if (sql !== undefined && check(sql, swapped) === true) swapped.falseAllows.push(`${entry.source}: ${sql}`);
    }
    // Then none is allowed and none crashes
    expect(swapped.statements).toBeGreaterThan(2000);
    expect(swapped.crashes).toEqual([]);
    expect(swapped.falseAllows).toEqual([]);
  });

  it('refuses real statements that read customer tables', () => {
    // Given statements from the same sources that read non-system tables / When checked
    for (const entry of CUSTOMER) {
      if (check(entry.sql, customer) === true) customer.falseAllows.push(`${entry.source}: ${entry.sql}`);
    }
    // Then none is allowed and none crashes
    expect(customer.crashes).toEqual([]);
    expect(customer.falseAllows).toEqual([]);
  });
});
