import { describe, expect, it } from 'vitest';
import { checkQuery } from '../../../src/clickhouse/guard.js';
import { findPreset, PRESETS } from '../../../src/clickhouse/presets.js';

describe('presets', () => {
  it('cover the diagnostics on-call engineers reach for', () => {
    // Given the preset list / Then every agreed diagnostic is there, once
    expect(PRESETS.map((preset) => preset.name)).toEqual([
      'parts',
      'merges',
      'mutations',
      'replication-queue',
      'replica-delays',
      'errors',
      'slow-queries',
      'failed-queries',
      'processes',
      'disks',
      'settings-changed',
      'dictionaries',
      'distribution-queue',
    ]);
  });

  it.each(PRESETS.map((preset) => [preset.name, preset] as const))('%s passes the guard and reads system tables only', (_name, preset) => {
    // Given a preset / When its SQL is checked
    const verdict = checkQuery(preset.sql);
    // Then it is allowed and reads at least one system table, nothing else
    expect(verdict.reason).toMatch(/^read-only SELECT/);
    expect(verdict.tables.length).toBeGreaterThan(0);
    for (const table of verdict.tables) expect(table).toMatch(/^system\./);
  });

  it.each(PRESETS.map((preset) => [preset.name, preset] as const))('%s has a kebab-case name and a one-line description', (_name, preset) => {
    // Given a preset / Then its name is kebab-case and its description one sentence on one line
    expect(preset.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(preset.description).not.toContain('\n');
    expect(preset.description.length).toBeGreaterThan(20);
    expect(preset.description.length).toBeLessThan(140);
  });

  it('compare query_log.type numerically, which works on UInt8 (before 19.13) and Enum8 columns', () => {
    // Given the presets reading query_log / Then none compares type with a string
    const queryLog = PRESETS.filter((preset) => preset.sql.includes('system.query_log'));
    expect(queryLog.map((preset) => preset.name)).toEqual(['slow-queries', 'failed-queries']);
    for (const preset of queryLog) {
      expect(preset.sql).toContain("CAST(type, 'Int8')");
      expect(preset.sql).not.toMatch(/type\s*(=|IN)\s*\(?'/);
    }
  });

  it('are found by name, ignoring case and surrounding spaces', () => {
    // Given preset names as a user might type them / When looked up / Then the preset or nothing comes back
    expect(findPreset('merges')?.name).toBe('merges');
    expect(findPreset(' Slow-Queries ')?.name).toBe('slow-queries');
    expect(findPreset('nope')).toBeUndefined();
  });
});
