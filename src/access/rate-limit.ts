/**
 * Failed authentication, counted per source address, so that guessing tokens (or a script stuck on a wrong one)
 * costs its address and nobody else. Written here rather than taken from a library: the well-kept limiters are
 * middleware for express or fastify, count every request rather than failures, or keep state in Redis; this is
 * one bounded Map.
 *
 * The rule: {@link AUTH_FAILURE_LIMIT} failures within {@link AUTH_FAILURE_WINDOW_MS} of an address's first
 * counted failure block that address for {@link AUTH_FAILURE_WINDOW_MS} from the failure that reached the limit.
 * While blocked, every authenticated route answers 429 with Retry-After without looking at the credentials, a
 * right token included (checking it would tell a guesser when a guess is right); public routes (health, CA, CRL)
 * are never blocked. A success does not clear the count: interleaving a known good token with guesses buys
 * nothing. At most {@link AUTH_FAILURE_TABLE_SIZE} addresses are tracked; beyond that the oldest entry is dropped.
 */

/** Failed authentications an address may make in a window before it is blocked. */
export const AUTH_FAILURE_LIMIT = 10;
/** The window failures are counted in, and how long a block lasts. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Addresses tracked at most (about 100 bytes each). */
const AUTH_FAILURE_TABLE_SIZE = 10_000;

interface Entry {
  /** when the first failure of the current window happened */
  since: number;
  failures: number;
  /** blocked until then (ms), once the limit is reached */
  blockedUntil?: number;
}

export interface FailureLimiterOptions {
  now: () => number;
  limit?: number;
  windowMs?: number;
  tableSize?: number;
}

export class FailureLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly tableSize: number;

  constructor(private readonly options: FailureLimiterOptions) {
    this.limit = options.limit ?? AUTH_FAILURE_LIMIT;
    this.windowMs = options.windowMs ?? AUTH_FAILURE_WINDOW_MS;
    this.tableSize = options.tableSize ?? AUTH_FAILURE_TABLE_SIZE;
  }

  /** Seconds until `address` may try again, or undefined when it is not blocked. */
  retryAfter(address: string): number | undefined {
    const entry = this.entries.get(address);
    if (entry?.blockedUntil === undefined) return undefined;
    const left = entry.blockedUntil - this.options.now();
    if (left > 0) return Math.ceil(left / 1000);
    this.entries.delete(address);
    return undefined;
  }

  /** Counts a failed authentication from `address`. */
  fail(address: string): void {
    const now = this.options.now();
    let entry = this.entries.get(address);
    // a block outlives its window's count: a request in flight when the block began must not lift it
    if (!entry || (now - entry.since >= this.windowMs && !(entry.blockedUntil !== undefined && entry.blockedUntil > now))) {
      this.entries.delete(address);
      entry = { since: now, failures: 0 };
    }
    entry.failures++;
    if (entry.failures >= this.limit && entry.blockedUntil === undefined) entry.blockedUntil = now + this.windowMs;
    // re-inserted: the Map's order is then the order of last failure, and the first entry the one to drop
    this.entries.delete(address);
    this.entries.set(address, entry);
    while (this.entries.size > this.tableSize) this.entries.delete(this.entries.keys().next().value!);
  }

  /** @internal how many addresses are tracked (tests check the bound) */
  get size(): number {
    return this.entries.size;
  }
}

/** The source address of a connection, an IPv4 one mapped into IPv6 (`::ffff:10.0.0.1`) written as IPv4. */
export function sourceAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice('::ffff:'.length) : remote;
}
