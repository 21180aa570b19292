// Shared helpers for the benchmark scripts. Plain JavaScript so a bench runs with only `npm ci` done.
// Every time is a high-resolution wall time (process.hrtime) of a whole process, measured in this process; every
// figure is a median of interleaved runs (byoc, then its baseline, then byoc...), so the machine's noise hits both.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BYOC = fileURLToPath(new URL('../bin/byoc.js', import.meta.url));

/** Runs per figure: at least 7, more when BENCH_RUNS says so. */
export function runsFromEnv(fallback) {
  return Math.max(7, Number(process.env.BENCH_RUNS ?? fallback));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The middle half of the samples (25th to 75th percentile) and their count: how far to trust a median. */
export function spread(values) {
  return { p25: percentile(values, 25), p75: percentile(values, 75), n: values.length };
}

/** Wall time of one process run, in milliseconds (high-resolution timer around the whole spawn). */
export function timeRun(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26, ...options });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

/**
 * Peak resident memory of one process run, in KiB, from GNU time's %M (Node cannot read a child's rusage).
 * Used for memory only: times come from timeRun.
 */
export function peakRssKb(command, args, options = {}) {
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return Number(result.stderr.trim().split('\n').at(-1));
}

/**
 * A measure comparing byoc's samples with a baseline's (medians, ratio, spreads). `budget` is the largest ratio
 * that meets the target (or, with `atLeast`, the smallest); omitted: informational.
 */
export function compare(name, byocSamples, baselineSamples, { baselineName, unit = 'ms', budget, atLeast = false }) {
  const byoc = median(byocSamples);
  const baseline = median(baselineSamples);
  const ratio = byoc / baseline;
  return {
    name,
    byoc,
    baseline,
    baselineName,
    unit,
    ratio,
    spread: { byoc: spread(byocSamples), baseline: spread(baselineSamples) },
    target: budget === undefined ? '(informational)' : `${atLeast ? '>=' : '<='} ${budget}x`,
    ...(budget === undefined ? {} : { ok: atLeast ? ratio >= budget : ratio <= budget }),
  };
}

/**
 * Prints measures as a table, or as JSON lines with --json (what `npm run bench` collects).
 * measure: { name, byoc, baseline, baselineName, unit, ratio, spread, target, ok }
 */
export function report(title, measures) {
  if (process.argv.includes('--json')) {
    for (const measure of measures) process.stdout.write(`${JSON.stringify({ bench: title, ...measure })}\n`);
    return;
  }
  process.stdout.write(`${title}\n`);
  for (const m of measures) {
    const ratio = m.ratio === undefined ? '' : `  ratio ${m.ratio.toFixed(2)}x`;
    const baseline = m.baseline === undefined ? '' : `  ${m.baselineName}: ${fmt(m.baseline)} ${m.unit}`;
    const verdict = m.ok === undefined ? '' : m.ok ? '  OK' : '  OVER BUDGET';
    process.stdout.write(`  ${m.name}: ${fmt(m.byoc)} ${m.unit}${baseline}${ratio}  (target ${m.target})${verdict}${m.spread ? `  [${spreadText(m.spread)}]` : ''}\n`);
  }
}

/** `byoc 240-262 / base 170-181 (n=9)`: the interquartile ranges behind the two medians. */
export function spreadText(value) {
  const range = (s) => `${fmt(s.p25)}-${fmt(s.p75)}`;
  return `byoc ${range(value.byoc)} / base ${range(value.baseline)} (n=${value.byoc.n})`;
}

function fmt(value) {
  return typeof value === 'number' ? (value >= 100 ? value.toFixed(0) : value.toFixed(1)) : String(value);
}
