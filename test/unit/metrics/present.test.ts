import { describe, expect, it } from 'vitest';
import { formatRows, seriesName, short, sparkline } from '../../../src/metrics/present.js';

describe('metrics presentation', () => {
  it('draws a sparkline from low to high blocks, gaps blank, at most the width', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([1, Number.NaN, 3])).toBe('▁ █');
    expect(sparkline([5, 5, 5])).toBe('▄▄▄');
    expect([...sparkline(Array.from({ length: 1000 }, (_, index) => index), 40)]).toHaveLength(40);
    expect(sparkline([])).toBe('');
  });

  it('names a series as Prometheus prints it, labels sorted', () => {
    expect(seriesName({ __name__: 'up', job: 'a', instance: 'b' })).toBe('up{instance="b",job="a"}');
    expect(seriesName({ __name__: 'up' })).toBe('up');
    expect(seriesName({ job: 'a"b' })).toBe('{job="a\\"b"}');
  });

  it('quotes CSV cells that need it and keeps TSV on one line per row', () => {
    const rows = [{ series: 'up{a="1",b="2"}', value: '1' }];
    expect(formatRows(rows, ['series', 'value'], 'csv')).toBe('series,value\n"up{a=""1"",b=""2""}",1\n');
    expect(formatRows([{ series: 'a\tb', value: '1' }], ['series', 'value'], 'tsv')).toBe('series\tvalue\na b\t1\n');
  });

  it('shortens large numbers for the table', () => {
    expect(short(1_234_567)).toBe('1.23M');
    expect(short(0.000123)).toBe('0.000123');
    expect(short(null)).toBe('');
  });
});
