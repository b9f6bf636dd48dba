/** Where a command writes: results to stdout, diagnostics to stderr; `--json` makes both machine-readable. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

export type Row = Record<string, string>;

/** Columns padded to their widest cell, a header in capitals; the last column is not padded. */
export function table(rows: readonly Row[], columns: readonly string[]): string {
  if (rows.length === 0) return '';
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, index) => (index === cells.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.toUpperCase())), ...rows.map((row) => line(columns.map((column) => row[column] ?? '')))].join('\n') + '\n';
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** An ISO instant without its milliseconds when they are zero, which they nearly always are for ticks. */
export function instant(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace(/\.000Z$/, 'Z');
}
