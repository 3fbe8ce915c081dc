/**
 * Aligned plain-text tables for stdout.
 */

export interface Column {
  readonly header: string
  /** Numbers read best right-aligned; names left-aligned (the default). */
  readonly align?: "left" | "right"
}

export const formatTable = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) =>
      columns[i]?.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)
    ).join("  ").trimEnd()
  return [
    line(columns.map((c) => c.header)),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line)
  ].join("\n")
}

export const printTable = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  process.stdout.write(formatTable(columns, rows) + "\n")
}

/** Formats a number with thousands separators and `digits` decimals; `-` for null/NaN. */
export const fmt = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "-"
    : x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
