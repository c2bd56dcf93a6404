/** Terminal colours, or none: plain text when stdout is not a terminal or NO_COLOR is set. */
export interface Paint {
  readonly dim: (text: string) => string
  readonly bold: (text: string) => string
  readonly red: (text: string) => string
  readonly green: (text: string) => string
  readonly yellow: (text: string) => string
  readonly blue: (text: string) => string
  readonly magenta: (text: string) => string
  readonly cyan: (text: string) => string
}

const sgr = (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`

export const paint = (color: boolean): Paint =>
  color
    ? { dim: sgr(2), bold: sgr(1), red: sgr(31), green: sgr(32), yellow: sgr(33), blue: sgr(34), magenta: sgr(35), cyan: sgr(36) }
    : { dim: String, bold: String, red: String, green: String, yellow: String, blue: String, magenta: String, cyan: String }

/** An ISO time from the log, shortened for a terminal: date and time to the second, UTC. */
export const shortTime = (at: string | null): string => (at === null ? "-" : at.replace("T", " ").slice(0, 19))

/** Columns padded to their widest cell; the last column is not padded. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? []
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "))
}

/** "1 event", "2 events": a count with its noun. */
export const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`
