import { UsageError } from '../errors.js';
import { formatDuration, parseDuration } from '../util/duration.js';

/** Prometheus refuses a range query of more than 11,000 points per series; byoc refuses it first, saying which flag. */
export const MAX_POINTS = 11_000;

/** The points a range view draws by default: 6h at 30s, a sparkline's worth. */
const DEFAULT_POINTS = 720;

/** The grant a metrics call runs under: its request and how long it was approved for. */
export interface GrantWindow {
  requestId: string;
  /** approval to end of the grant */
  windowMs: number;
}

/** The grant's window from its request: approval to notAfter (the request's asked duration before approval). */
export function grantWindowOf(request: { id: string; approvedAt?: string | undefined; notAfter?: string | undefined; durationMs: number }): GrantWindow {
  const windowMs = request.approvedAt && request.notAfter ? Date.parse(request.notAfter) - Date.parse(request.approvedAt) : request.durationMs;
  return { requestId: request.id, windowMs };
}

export interface RangePlan {
  startMs: number;
  endMs: number;
  stepMs: number;
  points: number;
}

/**
 * The range a `byoc metrics range` may read: no longer than the grant's window (an engineer granted 2h reads at
 * most 2h of history, the same bound the customer approved for being inside), and a step coarse enough that no
 * series has more than MAX_POINTS points. Without --step: the range over about DEFAULT_POINTS points, whole seconds.
 */
export function planRange(input: { sinceMs: number; stepMs?: number | undefined; nowMs: number; grant: GrantWindow }): RangePlan {
  const { sinceMs, nowMs, grant } = input;
  if (sinceMs <= 0) throw new UsageError('range_empty', '--since must be longer than 0s', { hint: 'e.g. --since 6h' });
  if (sinceMs > grant.windowMs) {
    throw new UsageError('range_too_long', `--since ${formatDuration(sinceMs)} reaches back further than your grant's window (${formatDuration(grant.windowMs)}, request ${grant.requestId})`, {
      hint: `Use --since ${formatDuration(grant.windowMs)} or less; for more history, request a longer grant (byoc access request SERVICE --duration ... --reason "...").`,
    });
  }
  const minStepMs = minimumStep(sinceMs);
  const stepMs = input.stepMs ?? Math.max(minStepMs, Math.ceil(sinceMs / DEFAULT_POINTS / 1000) * 1000);
  if (stepMs <= 0) throw new UsageError('step_too_small', '--step must be longer than 0s', { hint: `e.g. --step ${formatDuration(minStepMs)}` });
  if (stepMs < minStepMs) {
    throw new UsageError('step_too_small', `--step ${formatDuration(stepMs)} over --since ${formatDuration(sinceMs)} gives ${pointsOf(sinceMs, stepMs)} points per series; the most is ${MAX_POINTS}`, {
      hint: `Use --step ${formatDuration(minStepMs)} or more, or a shorter --since.`,
    });
  }
  return { startMs: nowMs - sinceMs, endMs: nowMs, stepMs, points: pointsOf(sinceMs, stepMs) };
}

/** The smallest step, in whole seconds (Prometheus's resolution here), that keeps a range within MAX_POINTS. */
export function minimumStep(rangeMs: number): number {
  let step = Math.max(1000, Math.ceil(rangeMs / (MAX_POINTS - 1) / 1000) * 1000);
  while (pointsOf(rangeMs, step) > MAX_POINTS) step += 1000;
  return step;
}

/** Prometheus's own count: both ends included. */
function pointsOf(rangeMs: number, stepMs: number): number {
  return Math.floor(rangeMs / stepMs) + 1;
}

/** The series cap: a result with more series than --max-series is refused whole, not cut (a cut view misleads). */
export function checkSeriesCount(count: number, maxSeries: number): void {
  if (count <= maxSeries) return;
  throw new UsageError('too_many_series', `the answer has ${count} series, more than --max-series ${maxSeries}`, {
    hint: `Narrow the selector (a label matcher such as {instance="..."}, or sum by (...)), or raise --max-series (at most ${MAX_SERIES_LIMIT}).`,
  });
}

/** The highest --max-series accepts. */
const MAX_SERIES_LIMIT = 10_000;

/** --time: RFC 3339, Unix seconds, or a duration ago (`30m`); milliseconds since the epoch. */
export function parseTime(text: string, nowMs: number): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const ago = parseDuration(trimmed);
  if (ago !== undefined) return nowMs - ago;
  const parsed = /^\d{4}-\d\d-\d\dT/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isFinite(parsed)) return parsed;
  throw new UsageError('time_invalid', `--time ${text} is not a time`, { hint: 'Give RFC 3339 (2026-11-30T12:00:00Z), Unix seconds (1796040000), or how long ago (30m).' });
}
