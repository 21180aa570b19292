import { rm } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from '../util/secure-fs.js';
import { readSmallFile } from '../util/read.js';

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
export function settingsMemory(stateDir: string, service: string, url: string, user: string, now: () => Date): SettingsMemory {
  const file = settingsFileOf(stateDir, service);
  return {
    async recall() {
      try {
        const saved = JSON.parse(await readSmallFile(file)) as { url?: unknown; user?: unknown; level?: unknown; at?: unknown };
        const age = now().getTime() - Date.parse(String(saved.at));
        const fresh = age >= 0 && age < MAX_AGE_MS;
        return saved.url === url && saved.user === user && fresh && (saved.level === 0 || saved.level === 1 || saved.level === 2) ? saved.level : undefined;
      } catch {
        return undefined;
      }
    },
    async remember(level) {
      try {
        await writePrivateFile(file, `${JSON.stringify({ url, user, level, at: now().toISOString() })}\n`);
      } catch {
        // a state folder that cannot be written costs requests, not the query
      }
    },
    async forget() {
      await rm(file, { force: true }).catch(() => undefined);
    },
  };
}

export function settingsFileOf(stateDir: string, service: string): string {
  return path.join(stateDir, 'clickhouse', `${encodeURIComponent(service)}.settings.json`);
}
