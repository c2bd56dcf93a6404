/**
 * Rows, targets, the table, and docs/benchmarks.md. The doc is hand-written except between the
 * markers below, which each full run rewrites; everything else in it survives every run.
 */
import { cpus, loadavg, platform, release, totalmem } from "node:os"
import { existsSync } from "node:fs"
import { open, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export type Target =
  /** broker / baseline at least `value` (throughput: higher is better). */
  | { readonly kind: "min-ratio"; readonly value: number }
  /** broker / baseline at most `value` (latency: lower is better). */
  | { readonly kind: "max-ratio"; readonly value: number }
  /** the broker's own figure at most `value`, in the row's unit. */
  | { readonly kind: "max"; readonly value: number }
  /** the broker's own figure at least `value`, in the row's unit. */
  | { readonly kind: "min"; readonly value: number }

export interface Row {
  readonly scenario: string
  /** "appends/s", "req/s", "ms", "MB", "events/s" … */
  readonly unit: string
  readonly broker: number
  /** The broker's figure is only a lower bound (it hit a time limit): shown as "≥ …". */
  readonly brokerAtLeast?: boolean
  /** The comparison figure; null where there is none. */
  readonly baseline: number | null
  /** What the baseline column is when it is not the bare node:http server. */
  readonly baselineIs?: string
  readonly target: Target | null
}

export const ratioOf = (row: Row): number | null =>
  row.baseline === null || !Number.isFinite(row.baseline) || row.baseline === 0 ? null : row.broker / row.baseline

export type Verdict = "pass" | "FAIL" | "—"

export const verdictOf = (row: Row): Verdict => {
  const target = row.target
  if (target === null) return "—"
  if (!Number.isFinite(row.broker)) return "FAIL"
  const ratio = ratioOf(row)
  switch (target.kind) {
    case "min-ratio":
      return ratio !== null && ratio >= target.value ? "pass" : "FAIL"
    case "max-ratio":
      return ratio !== null && ratio <= target.value ? "pass" : "FAIL"
    case "max":
      return row.broker <= target.value ? "pass" : "FAIL"
    case "min":
      return row.broker >= target.value ? "pass" : "FAIL"
  }
}

const percent = (x: number) => `${Math.round(x * 100)}%`

export const targetText = (row: Row): string => {
  const target = row.target
  if (target === null) return "—"
  switch (target.kind) {
    case "min-ratio":
      return `≥ ${percent(target.value)} of ${row.baselineIs ?? "baseline"}`
    case "max-ratio":
      return `≤ ${target.value}× ${row.baselineIs ?? "baseline"}`
    case "max":
      return `≤ ${formatValue(target.value, row.unit)}`
    case "min":
      return `≥ ${formatValue(target.value, row.unit)}`
  }
}

export const formatValue = (value: number, unit: string): string => {
  if (!Number.isFinite(value)) return "n/a"
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  const text = value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })
  return `${text} ${unit}`
}

const ratioText = (row: Row) => {
  const ratio = ratioOf(row)
  return ratio === null ? "—" : ratio >= 10 ? `${ratio.toFixed(0)}×` : `${ratio.toFixed(2)}×`
}

/** The rows as a Markdown table (also what the console shows). */
export const formatTable = (rows: ReadonlyArray<Row>): string => {
  const header = ["scenario", "broker", "baseline", "ratio", "target", "result"]
  const body = rows.map((row) => [
    row.scenario,
    `${row.brokerAtLeast ? "≥ " : ""}${formatValue(row.broker, row.unit)}`,
    row.baseline === null ? "—" : `${formatValue(row.baseline, row.unit)}${row.baselineIs ? ` (${row.baselineIs})` : ""}`,
    ratioText(row),
    targetText(row),
    verdictOf(row)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...body.map(line)].join("\n")
}

export interface Machine {
  readonly cpu: string
  readonly cpus: number
  readonly memoryGb: number
  readonly os: string
  readonly node: string
  readonly date: string
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter?: ReadonlyArray<number>
  /** Latency of a 200-byte append + fdatasync where the data dirs live: the floor of one durable append. */
  readonly fsync?: { readonly p50Ms: number; readonly p99Ms: number; readonly dir: string }
}

/** Times `count` appends of one small line, each followed by fdatasync, in `dir`. */
export const probeFsync = async (dir: string, count = 200): Promise<NonNullable<Machine["fsync"]>> => {
  const path = join(dir, `fsync-probe-${process.pid}`)
  const handle = await open(path, "w")
  const times: Array<number> = []
  try {
    const line = `${"x".repeat(199)}\n`
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      await handle.write(line)
      await handle.datasync()
      times.push(performance.now() - started)
    }
  } finally {
    await handle.close()
    await rm(path, { force: true })
  }
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!
  return { p50Ms: at(0.5), p99Ms: at(0.99), dir }
}

export const describeMachine = (): Machine => ({
  cpu: cpus()[0]?.model.trim() ?? "unknown",
  cpus: cpus().length,
  memoryGb: totalmem() / 2 ** 30,
  os: `${platform()} ${release()}`,
  node: process.version,
  date: new Date().toISOString(),
  loadBefore: loadavg()
})

const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" / ")

export const machineText = (m: Machine): string =>
  [
    `- Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGb.toFixed(1)} GiB RAM, ${m.os}`,
    `- Node ${m.node}; run ${m.date}`,
    `- Load average (1/5/15 min) before the run: ${load(m.loadBefore)}${m.loadAfter ? `; after: ${load(m.loadAfter)}` : ""}`,
    ...(m.fsync
      ? [`- Disk: a 200-byte append + fdatasync in ${m.fsync.dir} takes p50 ${m.fsync.p50Ms.toFixed(2)} ms, p99 ${m.fsync.p99Ms.toFixed(2)} ms (the floor of one durable append)`]
      : [])
  ].join("\n")

export const docPath = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url))
export const resultsStart = "<!-- bench:results:start (written by `npm run bench`; edit outside these markers) -->"
export const resultsEnd = "<!-- bench:results:end -->"
export const profileStart = "<!-- bench:profile:start (written by `npm run bench -- --profile <scenario>`) -->"
export const profileEnd = "<!-- bench:profile:end -->"

/** Replace what lies between `start` and `end` in `doc`; append the block if the markers are missing. */
export const replaceBetween = (doc: string, start: string, end: string, content: string): string => {
  const block = `${start}\n${content.trimEnd()}\n${end}`
  const from = doc.indexOf(start.slice(0, start.indexOf("(") > 0 ? start.indexOf("(") : start.length))
  const to = doc.indexOf(end)
  if (from >= 0 && to > from) return `${doc.slice(0, from)}${block}${doc.slice(to + end.length)}`
  return `${doc.trimEnd()}\n\n${block}\n`
}

const skeleton = `# Benchmarks

\`npm run bench\` measures the broker against a bare node:http server doing the same minimal work,
and rewrites the results below. It is not part of \`npm test\`.

${resultsStart}
${resultsEnd}

## CPU profile

${profileStart}
${profileEnd}

## What each change bought

(Hand-written: one entry per optimisation, with the figures before and after.)
`

/** Writes the results and/or a profile summary into docs/benchmarks.md, keeping everything else. */
export const writeDoc = async (results: string | undefined, profile?: string, path = docPath): Promise<void> => {
  let doc = existsSync(path) ? await readFile(path, "utf8") : skeleton
  if (results !== undefined) doc = replaceBetween(doc, resultsStart, resultsEnd, results)
  if (profile !== undefined) doc = replaceBetween(doc, profileStart, profileEnd, profile)
  await writeFile(path, doc)
}
