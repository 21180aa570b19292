/** What `byoc audit query-log` and `byoc audit report` read from their flags: the window and which rows are the engineers'. */
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import type { AuditFilter } from './sql.js';

export interface FilterInput {
  since: string;
  until?: string | undefined;
  userPattern: string;
  engineer?: string[] | undefined;
  request?: string | undefined;
  cluster?: string | undefined;
}

/** The audit's filter from the flags, refusing an empty window and a pattern that is no regular expression (exit 2). */
export function auditFilter(input: FilterInput, now: number): AuditFilter {
  const since = pointInTime(input.since, now, '--since');
  const until = input.until ? pointInTime(input.until, now, '--until') : now + 1000;
  if (since >= until) {
    const window = `--since ${input.since} (${new Date(since).toISOString()}) is not before --until ${input.until ?? 'now'} (${new Date(until).toISOString()})`;
    throw new UsageError('empty_window', window, { hint: `Swap them, or widen the window: --since ${input.until ?? '24h'}${input.until ? ` --until ${input.since}` : ''}` });
  }
  try {
    new RegExp(input.userPattern);
  } catch {
    throw new UsageError('invalid_pattern', `--user-pattern "${input.userPattern}" is not a regular expression`);
  }
  return {
    since: since / 1000,
    until: until / 1000,
    userPattern: input.userPattern,
    ...(input.engineer?.length ? { engineers: input.engineer } : {}),
    ...(input.request ? { requestId: input.request } : {}),
    ...(input.cluster ? { cluster: input.cluster } : {}),
  };
}

/** `24h` means 24 hours ago; anything else must be a time Date can read. */
function pointInTime(text: string, now: number, flag: string): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now - duration;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new UsageError('invalid_time', `${flag} "${text}" is neither a duration (24h) nor a time (2026-11-21T10:00:00Z)`);
  return parsed;
}
