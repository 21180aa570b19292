import { parseDuration } from '../util/duration.js';
import type { Setting } from './settings.js';

/**
 * Turns a raw string (from a flag or an environment variable) into the setting's typed value.
 * Returns an error text instead of throwing, so the caller can choose usage (flag) or config (env).
 */
export function coerce(setting: Setting, raw: string): { value: unknown } | { problem: string } {
  const text = raw.trim();
  switch (setting.kind) {
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return { value: true };
      if (/^(0|false|no|off)$/i.test(text)) return { value: false };
      return { problem: `expected true or false, got "${raw}"` };
    case 'integer':
      return /^\d+$/.test(text) ? { value: Number(text) } : { problem: `expected a whole number, got "${raw}"` };
    case 'duration':
      return parseDuration(text) === undefined
        ? { problem: `expected a duration such as 30m, 8h or 1h30m, got "${raw}"` }
        : { value: text };
    case 'list':
      return {
        value: text
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      };
    case 'url':
      try {
        new URL(text);
        return { value: text };
      } catch {
        return { problem: `expected a URL, got "${raw}"` };
      }
    default:
      return text === '' ? { problem: 'expected a value' } : { value: text };
  }
}
