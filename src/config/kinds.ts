import { parseDuration } from '../util/duration.js';
import type { Setting } from './settings.js';

export type Checked = { value: unknown } | { problem: string };

/**
 * The one validator per kind. A flag and an environment variable arrive as text, a file value as whatever YAML
 * or JSON made of it; both go through here, so `--count 100`, `BYOC_PING_COUNT=100` and `count: 100` meet the
 * same bounds and the same words. Only the caller decides the exit code: a flag is a usage error (2), a variable
 * or a file value a configuration error (3) naming the variable or the key.
 *
 * The result is the value in its file form (durations stay text such as `1h30m`, so `config show` prints what
 * was written); options turn it into what `run` receives.
 */
export function checkValue(setting: Setting, input: unknown): Checked {
  const text = typeof input === 'string' ? input.trim() : undefined;
  const refuse = (): Checked => ({ problem: `expected ${expected(setting)}; got ${shown(input)}` });
  switch (setting.kind) {
    case 'boolean':
      if (typeof input === 'boolean') return { value: input };
      if (text !== undefined && /^(1|true|yes|on)$/i.test(text)) return { value: true };
      if (text !== undefined && /^(0|false|no|off)$/i.test(text)) return { value: false };
      return refuse();
    case 'integer': {
      const number = typeof input === 'number' ? input : text !== undefined && /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(number)) return refuse();
      if ((setting.min !== undefined && number < setting.min) || (setting.max !== undefined && number > setting.max)) return refuse();
      return { value: number };
    }
    case 'duration':
      return text !== undefined && parseDuration(text) !== undefined ? { value: text } : refuse();
    case 'choice':
      return text !== undefined && (setting.choices ?? []).includes(text) ? { value: text } : refuse();
    case 'list': {
      const items = Array.isArray(input) ? input : text !== undefined ? text.split(',') : undefined;
      if (!items || !items.every((item) => typeof item === 'string')) return refuse();
      const list = (items).map((item) => item.trim()).filter(Boolean);
      if (setting.choices && !list.every((item) => setting.choices!.includes(item))) return refuse();
      return { value: list };
    }
    case 'url': {
      if (!text) return refuse();
      let protocol: string;
      try {
        protocol = new URL(text).protocol.slice(0, -1);
      } catch {
        return refuse();
      }
      return !setting.schemes || setting.schemes.includes(protocol) ? { value: text } : refuse();
    }
    case 'path':
      return text ? { value: text } : refuse();
    case 'string': {
      // A file may hold a ticket number as a YAML number; the flag and the variable give the same digits as text.
      const value = typeof input === 'number' && Number.isFinite(input) ? String(input) : text;
      if (!value) return refuse();
      return !setting.pattern || setting.pattern.test(value) ? { value } : refuse();
    }
  }
}

/** What a kind accepts, in words, for errors and help. */
export function expected(setting: Setting): string {
  switch (setting.kind) {
    case 'boolean':
      return 'true or false';
    case 'integer': {
      const { min, max } = setting;
      if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
      if (min !== undefined) return `a whole number of at least ${min}`;
      if (max !== undefined) return `a whole number of at most ${max}`;
      return 'a whole number';
    }
    case 'duration':
      return 'a duration such as 30s, 15m, 8h or 1h30m';
    case 'choice':
      return `one of: ${(setting.choices ?? []).join(', ')}`;
    case 'list':
      return setting.choices ? `a comma-separated list of ${setting.choices.join(', ')}` : 'a comma-separated list';
    case 'url':
      return setting.schemes ? `a URL starting with ${setting.schemes.map((scheme) => `${scheme}://`).join(', ')}` : 'a URL';
    case 'path':
      return 'a file path';
    case 'string':
      return setting.expects ?? 'a non-empty text';
  }
}

function shown(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (input === null || typeof input !== 'object') return String(input);
  return Array.isArray(input) ? 'a list' : 'a mapping';
}
