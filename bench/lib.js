// Shared helpers for the benchmark scripts. Plain JavaScript so a bench runs with only `npm ci` done.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BYOC = fileURLToPath(new URL('../bin/byoc.js', import.meta.url));

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Wall time of one process run, in milliseconds. */
export function timeRun(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

/**
 * Prints measures as a table, or as JSON lines with --json (what `npm run bench` collects).
 * measure: { name, byoc, baseline, baselineName, unit, ratio, target, ok }
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
    process.stdout.write(`  ${m.name}: ${fmt(m.byoc)} ${m.unit}${baseline}${ratio}  (target ${m.target})${verdict}\n`);
  }
}

function fmt(value) {
  return typeof value === 'number' ? (value >= 100 ? value.toFixed(0) : value.toFixed(1)) : String(value);
}
