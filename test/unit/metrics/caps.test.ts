import { describe, expect, it } from 'vitest';
import { checkSeriesCount, grantWindowOf, MAX_POINTS, minimumStep, parseTime, planRange } from '../../../src/metrics/caps.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const HOUR = 3_600_000;
const grant = { requestId: 'r-7', windowMs: 8 * HOUR };

describe('metrics caps', () => {
  it('reads the grant window from approval to the end of the grant', () => {
    expect(grantWindowOf({ id: 'r-1', approvedAt: '2026-11-30T10:00:00Z', notAfter: '2026-11-30T18:00:00Z', durationMs: 1 }).windowMs).toBe(8 * HOUR);
    expect(grantWindowOf({ id: 'r-1', durationMs: 2 * HOUR }).windowMs).toBe(2 * HOUR);
  });

  it('plans 6h at 30s by default, ending now', () => {
    // Given --since 6h and no --step, When planned, Then 721 points over the last 6h
    expect(planRange({ sinceMs: 6 * HOUR, nowMs: NOW, grant })).toEqual({ startMs: NOW - 6 * HOUR, endMs: NOW, stepMs: 30_000, points: 721 });
  });

  it('refuses a range longer than the grant window (exit 2 naming --since and the limit)', () => {
    const attempt = () => planRange({ sinceMs: 9 * HOUR, nowMs: NOW, grant });
    expect(attempt).toThrow(expect.objectContaining({ code: 'range_too_long', kind: 'usage', message: expect.stringMatching(/--since 9h .*grant's window \(8h, request r-7\)/) }));
  });

  it('accepts a range of exactly the grant window', () => {
    expect(planRange({ sinceMs: 8 * HOUR, nowMs: NOW, grant }).startMs).toBe(NOW - 8 * HOUR);
  });

  it('refuses a step that gives more than 11,000 points per series, naming --step and the minimum', () => {
    // Given 6h at 1s (21,601 points)
    let error: unknown;
    try {
      planRange({ sinceMs: 6 * HOUR, stepMs: 1000, nowMs: NOW, grant });
    } catch (caught) {
      error = caught;
    }
    // Then refused, with the smallest step that fits
    expect(error).toMatchObject({ code: 'step_too_small', kind: 'usage', message: expect.stringContaining('--step 1s'), hint: expect.stringContaining('--step 2s or more') });
    expect(planRange({ sinceMs: 6 * HOUR, stepMs: 2000, nowMs: NOW, grant }).points).toBeLessThanOrEqual(MAX_POINTS);
    expect(() => planRange({ sinceMs: 6 * HOUR, stepMs: 0, nowMs: NOW, grant })).toThrow(expect.objectContaining({ code: 'step_too_small' }));
    expect(() => planRange({ sinceMs: 0, nowMs: NOW, grant })).toThrow(expect.objectContaining({ code: 'range_empty' }));
  });

  it.each([1000, 59_000, HOUR, 3 * HOUR + 7, 8 * HOUR, 30 * 24 * HOUR])('keeps the minimum step within 11,000 points for a range of %i ms', (range) => {
    const step = minimumStep(range);
    expect(Math.floor(range / step) + 1).toBeLessThanOrEqual(MAX_POINTS);
    // and one second less would not
    if (step > 1000) expect(Math.floor(range / (step - 1000)) + 1).toBeGreaterThan(MAX_POINTS);
  });

  it('refuses more series than --max-series (exit 2), accepts up to it', () => {
    expect(() => checkSeriesCount(500, 500)).not.toThrow();
    expect(() => checkSeriesCount(501, 500)).toThrow(expect.objectContaining({ code: 'too_many_series', kind: 'usage', message: expect.stringContaining('--max-series 500') }));
  });

  it('reads --time as RFC 3339, Unix seconds or a duration ago, and refuses the rest', () => {
    expect(parseTime('2026-11-30T11:00:00Z', NOW)).toBe(NOW - HOUR);
    expect(parseTime('1796040000', NOW)).toBe(1_796_040_000_000);
    expect(parseTime('30m', NOW)).toBe(NOW - 30 * 60_000);
    expect(() => parseTime('yesterday', NOW)).toThrow(expect.objectContaining({ code: 'time_invalid', kind: 'usage' }));
  });
});
