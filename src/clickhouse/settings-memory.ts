import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from '../util/secure-fs.js';

/**
 * Which of runTagged's settings levels a service's server accepted last time, so the usual query is one request
 * (18.x refuses log_comment, a readonly user refuses every setting: two wasted round trips per query otherwise).
 * The level is never security: the server's own user settings (readonly, the grant's rights) are what hold; this
 * only saves requests. It is a hint, so reading or writing it never fails a query.
 */
export interface SettingsMemory {
  recall(): Promise<number | undefined>;
  remember(level: number): Promise<void>;
  forget(): Promise<void>;
}

/** A remembered level is tried again from the strictest after this long, so an upgraded server gets the strict settings back. */
const MAX_AGE_MS = 24 * 3600_000;

/**
 * `<stateDir>/clickhouse/<service>.settings.json` (0600), for the service's current URL and the server user it was
 * learnt as only (engineers sharing a machine log in as their grants' own users, whose profiles may differ).
 */
export function settingsMemory(stateDir: string, service: string, url: string, user: string, now: () => Date, saved?: Promise<string | undefined>): SettingsMemory {
  const file = settingsFileOf(stateDir, service);
  // the text read ahead answers the first recall only: a remember() or forget() since then changed the file
  let ahead = saved;
  return {
    async recall() {
      const pending = ahead;
      ahead = undefined;
      try {
        const text = pending ? await pending : await readFile(file, 'utf8');
        if (text === undefined) return undefined;
        const record = JSON.parse(text) as { url?: unknown; user?: unknown; level?: unknown; at?: unknown };
        const age = now().getTime() - Date.parse(String(record.at));
        const fresh = age >= 0 && age < MAX_AGE_MS;
        return record.url === url && record.user === user && fresh && (record.level === 0 || record.level === 1 || record.level === 2) ? record.level : undefined;
      } catch {
        return undefined;
      }
    },
    async remember(level) {
      ahead = undefined;
      try {
        await writePrivateFile(file, `${JSON.stringify({ url, user, level, at: now().toISOString() })}\n`);
      } catch {
        // a state folder that cannot be written costs requests, not the query
      }
    },
    async forget() {
      ahead = undefined;
      await rm(file, { force: true }).catch(() => undefined);
    },
  };
}

/**
 * The memory file's text, read before the server user is known (settingsMemory's `saved`), so the read overlaps the
 * certificate check; undefined when there is none or it cannot be read.
 */
export function readSettingsMemory(stateDir: string, service: string): Promise<string | undefined> {
  return readFile(settingsFileOf(stateDir, service), 'utf8').catch(() => undefined);
}

export function settingsFileOf(stateDir: string, service: string): string {
  return path.join(stateDir, 'clickhouse', `${encodeURIComponent(service)}.settings.json`);
}
