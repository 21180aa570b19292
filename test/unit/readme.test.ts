import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { manifest } from '../../commands/index.js';
import { settingsCatalog } from '../../commands/index.js';
import { settingsTable, withTable } from '../../src/config/table.js';
import { EXIT_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README stays true', () => {
  it('holds the settings table generated from the option declarations (npm run readme rewrites it)', async () => {
    // Given the table the declarations make today
    const table = await settingsTable(manifest);
    // Then the README holds exactly that table between its markers
    expect(withTable(readme, table) === readme, 'the README settings table is stale: run npm run readme').toBe(true);
  });

  it('documents every setting with its environment variable, in a row of its own', async () => {
    for (const setting of await settingsCatalog.all()) {
      const key = setting.inFile === false ? '—' : `\`${setting.key}\``;
      expect(readme, setting.key).toContain(`| ${key} | \`${setting.env}\` |`);
    }
  });

  it('shows every visible command with an example', () => {
    for (const entry of manifest.filter((command) => !command.hidden)) {
      expect(readme, entry.file).toContain(`byoc ${entry.file.replaceAll('/', ' ')}`);
    }
  });

  it('documents the --json naming convention, the stability rule and the deprecated aliases', () => {
    const section = readme.slice(readme.indexOf('## `--json` shapes'), readme.indexOf('## Configuration'));
    expect(section).toContain('Fields are camelCase');
    expect(section).toContain('add, never rename');
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    for (const [command, old, renamed] of [
      ['`sandbox up`', '`clickhouse.url`', '`nginx.url`'],
      ['`sandbox status`', '`clickhouse.url`', '`clickhouse.httpUrl`'],
      ['`connect k8s`', '`serverUrl`', '`server.kubeconfigUrl`'],
      ['`connect check`', '`targets[].dns.ms`', '`targets[].dns.elapsedMs`'],
      ['`broker token create`', '`user`', '`identity`'],
    ]) {
      expect(rows.some((row) => row.startsWith(`| ${command} | ${old}`) && row.includes(`| ${renamed}`)), `${command}: ${old} -> ${renamed}`).toBe(true);
    }
  });

  it('lists every exit code', () => {
    for (const { code } of EXIT_CODES) expect(readme).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  it('names the two set-up commands, and the test one is what CI runs', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });
});
