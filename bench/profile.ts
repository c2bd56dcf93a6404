/**
 * Summarises V8 `.cpuprofile` files (from `node --cpu-prof`): self time per function, top first.
 *
 *   node --import tsx bench/profile.ts <file.cpuprofile> [top]
 */
import { readFile } from "node:fs/promises"
import { relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

export interface Hotspot {
  readonly name: string
  readonly where: string
  readonly selfMs: number
  /** Share of the busy (non-idle) time. */
  readonly share: number
}

export interface ModuleShare {
  /** A package (`effect`, `xstate` …), a source file of ours, `node internals`, or a V8 bucket. */
  readonly module: string
  readonly selfMs: number
  readonly share: number
}

export interface ProfileSummary {
  readonly totalMs: number
  readonly busyMs: number
  readonly hotspots: ReadonlyArray<Hotspot>
  readonly modules: ReadonlyArray<ModuleShare>
}

const root = fileURLToPath(new URL("..", import.meta.url))

const shownPath = (url: string) => {
  const path = url.startsWith("file://") ? fileURLToPath(url) : url
  const shown = path.startsWith(root) ? relative(root, path) : path
  return shown.replace(/^node_modules\//, "")
}

// tsx strips whitespace from the TypeScript it runs, so our files are one line each: the column
// is what tells their functions apart.
const where = (url: string, line: number, column: number) =>
  url === "" ? "" : `${shownPath(url)}:${line + 1}:${column + 1}`

const moduleOf = (name: string, url: string): string => {
  if (url === "") return name.startsWith("(") ? name : "native (syscalls, builtins)"
  if (url.startsWith("node:")) return "node internals"
  const path = shownPath(url)
  if (path.startsWith("/") || path.startsWith("file:")) return path
  if (path.startsWith("src/") || path.startsWith("bin/")) return path
  const parts = path.split("/")
  return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!
}

export const summarise = async (file: string, top = 20): Promise<ProfileSummary> => {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<string, { name: string; where: string; us: number }>()
  const modules = new Map<string, number>()
  let total = 0
  let idle = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    total += delta
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === "(idle)") {
      idle += delta
      return
    }
    const name = frame.functionName || "(anonymous)"
    const at = where(frame.url, frame.lineNumber, frame.columnNumber)
    const module = moduleOf(name, frame.url)
    modules.set(module, (modules.get(module) ?? 0) + delta)
    const key = `${name} ${at}`
    const entry = self.get(key) ?? { name, where: at, us: 0 }
    entry.us += delta
    self.set(key, entry)
  })
  const busy = total - idle
  const hotspots = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.us / 1000, share: entry.us / busy }))
  const byModule = [...modules.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([module, us]) => ({ module, selfMs: us / 1000, share: us / busy }))
  return { totalMs: total / 1000, busyMs: busy / 1000, hotspots, modules: byModule }
}

export const formatSummary = (summary: ProfileSummary): string =>
  [
    `Profiled ${(summary.totalMs / 1000).toFixed(1)} s, of which ${(summary.busyMs / 1000).toFixed(1)} s busy (not idle). Top self time:`,
    "",
    "| self ms | share of busy | function | where |",
    "|--:|--:|---|---|",
    ...summary.hotspots.map(
      (h) => `| ${h.selfMs.toFixed(0)} | ${(h.share * 100).toFixed(1)}% | \`${h.name}\` | ${h.where === "" ? "" : `\`${h.where}\``} |`
    ),
    "",
    "Self time by package or file:",
    "",
    "| self ms | share of busy | package / file |",
    "|--:|--:|---|",
    ...summary.modules.map((m) => `| ${m.selfMs.toFixed(0)} | ${(m.share * 100).toFixed(1)}% | \`${m.module}\` |`)
  ].join("\n")

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, top] = process.argv.slice(2)
  if (!file) {
    console.error("usage: node --import tsx bench/profile.ts <file.cpuprofile> [top]")
    process.exit(2)
  }
  console.log(formatSummary(await summarise(file, Number(top ?? 20))))
}
