/**
 * Aligned plain-text tables for stdout, and the legend that explains their columns.
 */

export interface Column {
  readonly header: string
  /** What the column holds, printed in the legend at the top of the scenario's output. */
  readonly meaning: string
  /** Numbers read best right-aligned; names left-aligned (the default). */
  readonly align?: "left" | "right"
}

/** The legend: every column's header and what it holds, one per line. */
export const formatLegend = (columns: ReadonlyArray<Column>): string => {
  const width = Math.max(...columns.map((c) => c.header.length))
  return ["columns:", ...columns.map((c) => `  ${c.header.padEnd(width)}  ${c.meaning}`)].join("\n")
}

export const printLegend = (columns: ReadonlyArray<Column>): void => {
  process.stdout.write(formatLegend(columns) + "\n\n")
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
