import { renderToString } from 'ink';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { tableRenderer } from '../../../src/clickhouse/render.js';
import { Table } from '../../../src/ui/table.js';
import { fitCells, padCells, wrapCells } from '../../../src/ui/text.js';

/** The display column where `text` starts on `line`. */
const columnOf = (line: string, text: string) => stringWidth(line.slice(0, line.indexOf(text)));

interface Row {
  service: string;
  owner: string;
  state: string;
}

const rows: Row[] = [
  { service: 'acme-prod', owner: 'alice', state: 'approved' },
  { service: '東京-本番', owner: '山田太郎', state: 'pending' },
  { service: 'rocket 🚀', owner: 'bob', state: 'denied' },
  { service: 'café', owner: 'ｅｍｉ', state: 'expired' },
];

describe('the TTY table', () => {
  it('aligns CJK, full-width and emoji cells by display width, not by string length', () => {
    // Given rows mixing ASCII, CJK, full-width letters and an emoji
    const text = renderToString(
      <Table rows={rows} color={false} columns={[{ header: 'service', value: (row) => row.service }, { header: 'owner', value: (row) => row.owner }, { header: 'state', value: (row) => row.state }]} />,
      { columns: 100 },
    );
    const lines = text.split('\n');
    // Then every owner and state starts at the header's column
    const ownerColumn = columnOf(lines[0]!, 'OWNER');
    const stateColumn = columnOf(lines[0]!, 'STATE');
    rows.forEach((row, index) => {
      expect(columnOf(lines[index + 1]!, row.owner), row.service).toBe(ownerColumn);
      expect(columnOf(lines[index + 1]!, row.state), row.service).toBe(stateColumn);
    });
    // And the widest cell (東京-本番: 9 cells, 5 characters) sets the column
    expect(ownerColumn).toBe(stringWidth('東京-本番') + 2);
  });

  it('cuts a capped column by display width without splitting a wide character', () => {
    const text = renderToString(
      <Table rows={[{ note: '日本語のとても長い説明です' }]} color={false} columns={[{ header: 'note', value: (row) => row.note, max: 9 }]} />,
      { columns: 100 },
    );
    const cell = text.split('\n')[1]!;
    expect(cell.endsWith('…')).toBe(true);
    expect(stringWidth(cell)).toBeLessThanOrEqual(9);
    expect(cell).not.toContain('\uFFFD');
  });

  it('wraps a wrapping column into the room left, with the other cells kept on the first line', () => {
    const text = renderToString(
      <Table
        rows={[{ code: 5, meaning: 'a remote answered with an error or could not be reached at all, after retries' }]}
        color={false}
        width={40}
        columns={[{ header: 'code', value: (row) => String(row.code) }, { header: 'meaning', value: (row) => row.meaning, wrap: true }]}
      />,
      { columns: 40 },
    );
    const lines = text.split('\n');
    // Then no line is wider than the table, nothing is cut, and continuation lines start under MEANING
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(40);
    expect(text).not.toContain('…');
    expect(lines.slice(1).map((line) => line.trim()).join(' ').replace(/ +/g, ' ')).toBe('5 a remote answered with an error or could not be reached at all, after retries');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines.slice(2)) expect(columnOf(line, line.trim())).toBe(columnOf(lines[0]!, 'MEANING'));
  });
});

describe('text cell helpers', () => {
  it('pad, cut and wrap in terminal cells', () => {
    expect(padCells('東京', 6)).toBe('東京  ');
    expect(padCells('🚀', 3)).toBe('🚀 ');
    expect(stringWidth(fitCells('東京東京東京', 5))).toBeLessThanOrEqual(5);
    expect(fitCells('short', 10)).toBe('short');
    expect(wrapCells('東京 大阪 名古屋 札幌', 8).every((line) => stringWidth(line) <= 8)).toBe(true);
  });
});

describe('the streaming query table', () => {
  it('aligns CJK and emoji values by display width', async () => {
    // Given a ClickHouse TSV result with wide characters
    const renderer = tableRenderer({ color: false, columns: 80 });
    // When it is rendered
    const text = renderer.lines(['name\tvalue', 'String\tString', '東京\t1', 'abc\t2', '🚀🚀\t3']) + renderer.end();
    const lines = text.trimEnd().split('\n');
    // Then the value column starts at the same display column on every line
    const start = columnOf(lines[0]!, 'value');
    expect(lines.slice(1).map((line) => columnOf(line, line.trim().split(/\s+/).at(-1)!))).toEqual([start, start, start]);
  });
});
