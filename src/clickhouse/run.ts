import { randomUUID } from 'node:crypto';
import { isAbort } from '../errors.js';
import { ClickHouseRefusal, ClickHouseServerError, type QueryRequest, type WireFormat } from './client.js';
import type { SettingsMemory } from './settings-memory.js';

export interface QueryTags {
  requestId: string;
  engineer: string;
  ticket?: string | undefined;
}

/** `byoc-<request id>-<uuid>`: how the customer's query_log attributes a query to an access request. */
export function queryIdFor(requestId: string): string {
  return `byoc-${requestId}-${randomUUID()}`;
}

export function applicationFor(version: string, requestId: string): string {
  return `byoc/${version} (request ${requestId})`;
}

const UNKNOWN_SETTING = 115;
const READONLY = 164;

/** What a settings refusal looks like: an unknown setting, or a read-only user changing one. */
function refusedSetting(error: unknown): boolean {
  const code = (error as { serverCode?: number }).serverCode;
  return code === UNKNOWN_SETTING || (code === READONLY && /setting|readonly/i.test((error as Error).message));
}

/**
 * Runs a query with the strictest settings the server accepts: read-only, limits, and a log_comment naming
 * the request. Old servers do not know log_comment (unknown setting) and read-only users may not change
 * settings at all; both errors come before the query runs, so dropping what was refused and retrying is safe
 * and silent. The query_id and user agent still carry the tags.
 *
 * With `memory`, the level the server accepted is remembered for the service and tried first next time (one
 * request per query). A settings refusal at that level steps down and rewrites it; any other failure at it that
 * is not the server answering about the query itself (a broken path, a timeout, a proxy's page) forgets it, so a
 * restarted or upgraded server is offered the strict settings again. The level is not what keeps the engineer
 * read-only: the server's own user settings do.
 */
export async function runTagged<T, F extends WireFormat | undefined>(
  send: (request: QueryRequest & { format: F }) => Promise<T>,
  request: { sql: string; format: F; queryId: string; maxRows: number; timeoutMs: number; tags: QueryTags; signal?: AbortSignal | undefined; deadline?: boolean; memory?: SettingsMemory | undefined },
): Promise<T> {
  const limits: Record<string, string | number> = {
    readonly: 1,
    max_execution_time: Math.max(1, Math.ceil(request.timeoutMs / 1000)),
    ...(request.maxRows > 0 ? { max_result_rows: request.maxRows, result_overflow_mode: 'break' } : {}),
  };
  const comment = JSON.stringify({ byoc: { request: request.tags.requestId, engineer: request.tags.engineer, ...(request.tags.ticket ? { ticket: request.tags.ticket } : {}) } });
  const levels: Record<string, string | number>[] = [{ ...limits, log_comment: comment }, limits, {}];
  const remembered = await request.memory?.recall();
  let lastError: unknown;
  for (let level = remembered ?? 0; level < levels.length; level++) {
    const query = {
      sql: request.sql,
      queryId: request.queryId,
      format: request.format,
      settings: levels[level]!,
      signal: request.signal,
      // The server's max_execution_time is dropped with the other settings where the user may not set it: the deadline holds anyway.
      ...(request.deadline ? { deadlineMs: request.timeoutMs } : {}),
    };
    try {
      const result = await send(query);
      if (level !== remembered) await request.memory?.remember(level);
      return result;
    } catch (error) {
      lastError = error;
      if (refusedSetting(error)) continue;
      const aboutTheQuery = error instanceof ClickHouseServerError || error instanceof ClickHouseRefusal;
      if (remembered !== undefined && !aboutTheQuery && !isAbort(error)) await request.memory?.forget();
      throw error;
    }
  }
  throw lastError;
}

/** Splits ClickHouse TabSeparated escaping back into values (`\N` is NULL). */
export function parseTsvLine(line: string): (string | null)[] {
  const fields: (string | null)[] = [];
  let current = '';
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (char === '\t') {
      fields.push(current === '\\N' ? null : current);
      current = '';
    } else if (char === '\\' && index + 1 < line.length) {
      const next = line[++index]!;
      current += next === 't' ? '\t' : next === 'n' ? '\n' : next === 'r' ? '\r' : next === '0' ? '\0' : next === 'b' ? '\b' : next === 'f' ? '\f' : next === 'N' ? '\\N' : next;
    } else {
      current += char;
    }
  }
  fields.push(current === '\\N' ? null : current);
  return fields;
}
