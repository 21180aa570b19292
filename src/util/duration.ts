/**
 * Durations as byoc reads and writes them: Go-style runs of a number and a unit (`250ms`, `90s`, `30m`,
 * `1h30m10s`, `1.5h`, `2d`), in milliseconds.
 *
 * byoc's own module rather than a library (rule 11), because none of the well-kept ones does both halves:
 * `ms` is CommonJS and reads one unit only (`1h30m` is NaN) and writes one unit only (`1h30m10s` becomes
 * `2h`); `parse-duration` reads `1h30m10s` but also turns noise into a number (`running length: 1hour`, `-1h`,
 * `2e3s`, `1y`), and a typo must not decide how long someone's access lasts; `pretty-ms` writes `1h 30m 10s`
 * and `1.3s`, which nothing here reads back, and its current major needs Node 22. The grammar below is a
 * few lines, and test/unit/util/duration.test.ts pins its round trips with property tests.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** Largest first: the order formatDuration writes them in. */
const UNITS = Object.keys(UNIT_MS) as Unit[];

// `ms` before `m` and `s`, so `500ms` is not read as 500 minutes followed by junk.
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * Milliseconds for a duration such as `90s`, `1h30m10s` or `1.5h` (surrounding blanks ignored); undefined for
 * anything else, never an exception: no sign, no blanks inside, no other units, nothing beyond 2^53 ms.
 */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  if (!WHOLE.test(trimmed)) return undefined;
  let total = 0;
  for (const [, count, unit] of trimmed.matchAll(PART)) total += Number(count) * UNIT_MS[unit as Unit];
  const rounded = Math.round(total);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

export function isDuration(text: string): boolean {
  return parseDuration(text) !== undefined;
}

/**
 * The exact duration, largest units first, zero units left out: 5410000 -> `1h30m10s`, 1500 -> `1s500ms`,
 * 0 -> `0s`. parseDuration reads it back to the same number of milliseconds (fractions are rounded).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let text = '';
  for (const unit of UNITS) {
    const count = Math.floor(rest / UNIT_MS[unit]);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * UNIT_MS[unit];
  }
  return text;
}

/**
 * The two largest units, rounded down, for phrases a person reads at a glance (`7h59m left`, `3d4h ago`);
 * below a second, milliseconds. Never for a value that is stored or read back: use formatDuration.
 */
export function formatCoarse(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatCoarse(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return formatDuration(Math.floor(ms / 1000) * 1000)
    .match(/\d+[a-z]+/g)!
    .slice(0, 2)
    .join('');
}

/** Relative phrase for TTY views: `in 1h30m`, `5m ago`. */
export function formatRelative(target: Date, now: Date): string {
  const delta = target.getTime() - now.getTime();
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `in ${formatCoarse(delta)}` : `${formatCoarse(-delta)} ago`;
}
