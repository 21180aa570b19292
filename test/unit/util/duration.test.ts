import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCoarse, formatDuration, formatRelative, isDuration, parseDuration } from '../../../src/util/duration.js';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNITS = Object.keys(UNIT_MS) as Unit[];
/** Largest count of each unit in a canonical text (the next unit up takes the rest); days are unbounded. */
const CAP: Record<Unit, number> = { d: 10_000, h: 23, m: 59, s: 59, ms: 999 };

/** A duration as formatDuration writes it: units largest first, each below the next unit up, none zero. */
const canonicalText = fc
  .record(Object.fromEntries(UNITS.map((unit) => [unit, fc.integer({ min: 0, max: CAP[unit] })])) as Record<Unit, fc.Arbitrary<number>>)
  .map((counts) => UNITS.filter((unit) => counts[unit] > 0).map((unit) => `${counts[unit]}${unit}`).join(''))
  .filter((text) => text !== '');

/** What a person may type: any units, in any order, repeated, with decimals, with blanks around. */
const typedParts = fc.array(
  fc.record({ count: fc.oneof(fc.nat({ max: 100_000 }).map(String), fc.tuple(fc.nat({ max: 999 }), fc.nat({ max: 999 })).map(([whole, fraction]) => `${whole}.${fraction}`)), unit: fc.constantFrom(...UNITS) }),
  { minLength: 1, maxLength: 6 },
);

describe('parseDuration / formatDuration', () => {
  it('round-trips every canonical text: format(parse(text)) is the text itself', () => {
    fc.assert(
      fc.property(canonicalText, (text) => {
        // Given a duration written the way byoc writes one (1h30m10s, 2d5ms...)
        // When it is read and written again
        // Then nothing is lost or reworded
        expect(formatDuration(parseDuration(text)!)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every whole number of milliseconds: parse(format(ms)) is ms', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat({ max: 3_600_000 }), fc.nat({ max: 1_000 }).map((seconds) => seconds * 1000), fc.maxSafeNat()), (ms) => {
        // Given any whole, non-negative number of milliseconds (up to 2^53 - 1)
        // When it is written and read back
        // Then it is the same number
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads what people type: any order, repeats, decimals, surrounding blanks, as the sum of the parts', () => {
    fc.assert(
      fc.property(typedParts, fc.constantFrom('', ' ', '\t', '  '), (parts, blank) => {
        // Given parts such as 1.5h, 90s, 10m in any order, possibly repeated
        const text = `${blank}${parts.map((part) => `${part.count}${part.unit}`).join('')}${blank}`;
        // When the text is read
        const expected = Math.round(parts.reduce((sum, part) => sum + Number(part.count) * UNIT_MS[part.unit], 0));
        // Then it is the sum of the parts, rounded to the millisecond
        expect(parseDuration(text)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on junk: undefined, or a whole non-negative number of milliseconds', () => {
    const junk = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom(...'0123456789.smhdSMHD -+e,:µ') }),
      fc.string({ unit: 'binary' }),
      canonicalText.chain((text) => fc.tuple(fc.string(), fc.string()).map(([before, after]) => `${before}${text}${after}`)),
    );
    fc.assert(
      fc.property(junk, (text) => {
        // Given any string at all
        // When it is read
        const value = parseDuration(text);
        // Then there is no exception, and a value is always usable as milliseconds
        expect(value === undefined || (Number.isSafeInteger(value) && value >= 0)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['', 'empty'],
    ['   ', 'blank'],
    ['10', 'a number without a unit'],
    ['m', 'a unit without a number'],
    ['-1h', 'a sign'],
    ['+1h', 'a sign'],
    ['1 h', 'a blank inside'],
    ['1h 30m', 'a blank between parts'],
    ['1H', 'an upper-case unit'],
    ['1y', 'a unit byoc does not know'],
    ['1w', 'a unit byoc does not know'],
    ['2e3s', 'an exponent'],
    ['.5h', 'a fraction without a whole part'],
    ['1.h', 'a dot without a fraction'],
    ['1,5h', 'a comma'],
    ['running length: 1hour', 'noise around a duration'],
    ['1hour', 'a spelled-out unit'],
    ['9'.repeat(30) + 'd', 'more than 2^53 ms'],
  ])('refuses %j (%s)', (text) => {
    // Given text that is not a duration in byoc's grammar
    // When it is read
    // Then it is refused, not guessed at
    expect(parseDuration(text)).toBeUndefined();
    expect(isDuration(text)).toBe(false);
  });

  it.each([
    ['1h30m10s', 5_410_000],
    ['90m', 5_400_000],
    ['500ms', 500],
    ['1s500ms', 1500],
    ['1.5h', 5_400_000],
    ['0s', 0],
    ['2d', 172_800_000],
    ['10m30s', 630_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    [5_410_000, '1h30m10s'],
    [5_400_000, '1h30m'],
    [90_061_001, '1d1h1m1s1ms'],
    [1500, '1s500ms'],
    [0, '0s'],
    [60_000, '1m'],
    [-90_000, '-1m30s'],
    [1499.6, '1s500ms'],
  ])('writes %d ms exactly as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatCoarse', () => {
  it.each([
    [5_410_000, '1h30m'],
    [90_061_001, '1d1h'],
    [86_400_000 + 5 * 60_000, '1d5m'],
    [59_999, '59s'],
    [999, '999ms'],
    [-120_000, '-2m'],
  ])('writes %d ms as the two largest units, rounded down: %s', (ms, text) => {
    expect(formatCoarse(ms)).toBe(text);
  });

  it('never claims more time than there is, and keeps at most two units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 400 * 86_400_000 }), (ms) => {
        const text = formatCoarse(ms);
        expect(text.match(/\d+[a-z]+/g)!.length).toBeLessThanOrEqual(2);
        expect(parseDuration(text)!).toBeLessThanOrEqual(ms);
      }),
    );
  });
});

describe('formatRelative', () => {
  it('says in/ago with two units, and now within a second', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(formatRelative(new Date(now.getTime() + 5_410_000), now)).toBe('in 1h30m');
    expect(formatRelative(new Date(now.getTime() - 300_000), now)).toBe('5m ago');
    expect(formatRelative(new Date(now.getTime() + 400), now)).toBe('now');
  });
});
