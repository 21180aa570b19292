import { Box, Text } from 'ink';
import { displayWidth, fitCells, padCells, wrapCells } from './text.js';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  color?: (row: T) => string | undefined;
  /** cap for this column, in terminal cells; longer cells are cut with an ellipsis (or wrapped, with `wrap`) */
  max?: number;
  /** break long cells over several lines instead of cutting them; with the table's `width`, takes the room left */
  wrap?: boolean;
}

const SAMPLE_ROWS = 200;
const GAP = 2;
const DEFAULT_MAX = 60;
const MIN_WRAP = 20;

/**
 * A compact aligned table for TTY views. Widths are display widths (CJK and emoji take two cells) from the header
 * and the first rows; `width` is the room the table may take, which a wrapping column fills.
 */
export function Table<T>({ rows, columns, color, width }: { rows: readonly T[]; columns: readonly Column<T>[]; color: boolean; width?: number }) {
  const sample = rows.slice(0, SAMPLE_ROWS);
  const natural = columns.map((column) => Math.max(displayWidth(column.header), ...sample.map((row) => displayWidth(column.value(row)))));
  const widths = columns.map((column, index) => (column.wrap ? natural[index]! : Math.min(column.max ?? DEFAULT_MAX, natural[index]!)));
  columns.forEach((column, index) => {
    if (!column.wrap) return;
    const others = widths.reduce((sum, value, other) => (other === index ? sum : sum + value + GAP), 0);
    const room = width === undefined ? (column.max ?? DEFAULT_MAX) : Math.max(MIN_WRAP, width - others - 1);
    widths[index] = Math.min(natural[index]!, column.max ?? room, room);
  });
  const last = columns.length - 1;
  const lines = (text: string, index: number) => (columns[index]!.wrap ? wrapCells(text, widths[index]!) : [fitCells(text, widths[index]!)]);
  const layout = (cells: readonly string[]) => {
    const split = cells.map(lines);
    const height = Math.max(...split.map((cell) => cell.length));
    return Array.from({ length: height }, (_, line) => split.map((cell, index) => (index === last ? (cell[line] ?? '') : padCells(cell[line] ?? '', widths[index]! + GAP))));
  };
  return (
    <Box flexDirection="column">
      {layout(columns.map((column) => column.header.toUpperCase())).map((line, index) => (
        <Text key={`h${index}`} bold>
          {line.join('')}
        </Text>
      ))}
      {rows.flatMap((row, rowIndex) =>
        layout(columns.map((column) => column.value(row))).map((line, lineIndex) => (
          <Text key={`${rowIndex}.${lineIndex}`}>
            {line.map((cell, index) => {
              const tone = color ? columns[index]!.color?.(row) : undefined;
              return (
                <Text key={index} {...(tone ? { color: tone } : {})}>
                  {cell}
                </Text>
              );
            })}
          </Text>
        )),
      )}
    </Box>
  );
}
