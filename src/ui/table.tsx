import { Box, Text } from 'ink';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  color?: (row: T) => string | undefined;
  /** cap for this column; longer cells are cut with an ellipsis */
  max?: number;
}

const SAMPLE_ROWS = 200;

/** A compact aligned table for TTY views; widths come from the header and the first rows. */
export function Table<T>({ rows, columns, color }: { rows: readonly T[]; columns: readonly Column<T>[]; color: boolean }) {
  const sample = rows.slice(0, SAMPLE_ROWS);
  const widths = columns.map((column) =>
    Math.min(column.max ?? 60, Math.max(column.header.length, ...sample.map((row) => column.value(row).length))),
  );
  const cell = (text: string, index: number) => {
    const width = widths[index]!;
    const fitted = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
    return index === columns.length - 1 ? fitted : `${fitted.padEnd(width)}  `;
  };
  return (
    <Box flexDirection="column">
      <Text bold>{columns.map((column, index) => cell(column.header.toUpperCase(), index)).join('')}</Text>
      {rows.map((row, rowIndex) => (
        <Text key={rowIndex}>
          {columns.map((column, index) => (
            <Text key={index} {...(color && column.color?.(row) ? { color: column.color(row)! } : {})}>
              {cell(column.value(row), index)}
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  );
}
