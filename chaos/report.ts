/**
 * The figures of a chaos run, as Markdown (printed, and written into docs/reliability.md between
 * the markers below, as `npm run bench` does for docs/benchmarks.md; the rest of the doc is
 * hand-written and survives every run).
 */
import { existsSync } from "node:fs"
import { readFile, writeFile } from "node:fs/promises"
import { cpus, loadavg, platform, release, totalmem } from "node:os"
import { fileURLToPath } from "node:url"
import type { ChaosResult } from "./harness.js"
import { brokerBin } from "./processes.js"

export const docPath = fileURLToPath(new URL("../docs/reliability.md", import.meta.url))
export const resultsStart = "<!-- chaos:results:start (written by `npm run chaos`; edit outside these markers) -->"
export const resultsEnd = "<!-- chaos:results:end -->"

export interface Target {
  readonly what: string
  readonly value: number
  readonly text: string
  /** undefined: not judged for this run (e.g. the fault count of a run shorter than 10 minutes). */
  readonly pass: boolean | undefined
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0)

export const targetsOf = (result: ChaosResult): Array<Target> => {
  const lost = sum(result.verdicts.map((v) => v.lost))
  const duplicated = sum(result.verdicts.map((v) => v.duplicated))
  const fullRun = result.durationMs >= 10 * 60_000
  return [
    {
      what: "faults injected (10-minute run)",
      value: result.faults.length,
      text: "≥ 30",
      pass: fullRun ? result.faults.length >= 30 : undefined
    },
    { what: "acknowledged writes lost", value: lost, text: "0", pass: lost === 0 },
    { what: "writes stored twice", value: duplicated, text: "0", pass: duplicated === 0 },
    { what: "stalls (no answer within the timeout)", value: result.requests.stalls, text: "0", pass: result.requests.stalls === 0 },
    { what: "restarts right after SIGKILL refused", value: result.restarts.refusedByLock, text: "0", pass: result.restarts.refusedByLock === 0 },
    { what: "invariant violations (all kinds, below)", value: sum(result.findings.counts.values()), text: "0", pass: result.findings.counts.size === 0 }
  ]
}

const ms = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? "n/a" : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`)
const n = (value: number) => value.toLocaleString("en-US")

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, right: ReadonlyArray<number> = []) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (right.includes(i) ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`
  return [line(header), rule, ...rows.map(line)].join("\n")
}

export const machineLine = () =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${platform()} ${release()}, Node ${process.version}`

export const formatReport = (result: ChaosResult, meta: { command: string; seed: number; loadBefore: ReadonlyArray<number> }): string => {
  const out: Array<string> = []
  const loadAfter = loadavg()
  out.push(
    `Last run: \`${meta.command}\` (seed ${meta.seed}), ${new Date().toISOString()}: ${(result.durationMs / 60_000).toFixed(1)} minutes of faults under load, ${Math.round(result.seconds)} s in all.`,
    "",
    `- Machine: ${machineLine()}; shared with other work (load average before ${meta.loadBefore.map((x) => x.toFixed(2)).join(" / ")}, after ${loadAfter.map((x) => x.toFixed(2)).join(" / ")}).`,
    `- Brokers: ${result.bin === brokerBin ? "the bin, \`node bin/claude-ipc-broker.js\`" : `\`${result.bin}\``}${result.zombieMs === undefined ? "" : `, each under a parent that reaps it ${(result.zombieMs[0] / 1000).toFixed(0)}–${(result.zombieMs[1] / 1000).toFixed(0)} s after it dies (\`chaos/lazy-parent.py\`), so a restart meets the killed broker as a zombie`}; ${result.restarts.fromTsx === 0 ? "every start ran the compiled dist" : `${result.restarts.fromTsx} starts ran the sources through tsx (src was newer than dist)`}. nats-server: ${result.natsVersion ?? "none"}.`,
    ...result.skipped.map((line) => `- **Skipped**: ${line}.`),
    ""
  )

  out.push("**Targets**", "")
  out.push(
    table(
      ["", "this run", "target", "result"],
      targetsOf(result).map((t) => [t.what, n(t.value), t.text, t.pass === undefined ? "— (not a 10-minute run)" : t.pass ? "pass" : "**FAIL**"]),
      [1]
    ),
    ""
  )

  out.push("**Faults injected**", "")
  const kinds = new Map<string, Array<ChaosResult["faults"][number]>>()
  for (const fault of result.faults) kinds.set(fault.kind, [...(kinds.get(fault.kind) ?? []), fault])
  const unavailableRows = [...kinds].map(([kind, records]) => {
    const times = records.map((r) => r.unavailableMs).filter((x): x is number => x !== undefined)
    const sorted = [...times].sort((a, b) => a - b)
    const targets = new Map<string, number>()
    for (const r of records) targets.set(r.target, (targets.get(r.target) ?? 0) + 1)
    return [
      kind,
      n(records.length),
      [...targets].map(([t, c]) => `${t} ${c}`).join(", "),
      ms(sorted[Math.floor((sorted.length - 1) / 2)]),
      ms(sorted.at(-1)),
      records.some((r) => r.unavailableMs === undefined) ? `${records.filter((r) => r.unavailableMs === undefined).length} without a write in 120 s` : ""
    ]
  })
  out.push(
    table(["fault", "count", "on", "unavailable, median", "longest", ""], [...unavailableRows, ["**all**", n(result.faults.length), "", "", ms(Math.max(0, ...result.faults.map((f) => f.unavailableMs ?? 0))), ""]], [1]),
    "",
    "Unavailable: from the SIGKILL (broker, nats-server) or from freeing the disk, to the first acknowledged write on the broker (on every cluster node, for nats-server).",
    ""
  )
  const disk = result.faults.filter((f) => f.fullMs !== undefined)
  if (disk.length > 0) {
    out.push(
      `While the disk was full (${disk.length} times, ${ms(sum(disk.map((f) => f.fullMs!)) / disk.length)} on average): ${n(sum(disk.map((f) => f.writesRefusedWhileFull ?? 0)))} probe writes refused (503), ${n(sum(disk.map((f) => f.writesAckedWhileFull ?? 0)))} acknowledged (they fit in the log file's last page).`,
      ""
    )
  }
  out.push("**Clients leaving mid-request**", "")
  out.push(table(["drop", "count"], [...result.drops].sort((a, b) => b[1] - a[1]).map(([kind, count]) => [kind, n(count)]), [1]), "")

  out.push("**Writes and what the log holds**", "")
  out.push(
    table(
      ["", ...result.verdicts.map((v) => (v.backend === "file" ? "file log" : "JetStream, 2 nodes"))],
      [
        ["events in the log at the end", ...result.verdicts.map((v) => n(v.events))],
        ["writes acknowledged (2xx)", ...result.verdicts.map((v) => n(v.acked))],
        ["… lost", ...result.verdicts.map((v) => n(v.lost))],
        ["writes stored twice", ...result.verdicts.map((v) => n(v.duplicated))],
        ["writes refused but stored", ...result.verdicts.map((v) => `${n(v.refusedButStored)}${v.backend === "cluster" ? " (allowed: a 503 after publish retries may have landed)" : ""}`)],
        ["unanswered writes (cut by a kill or dropped): stored / not stored", ...result.verdicts.map((v) => `${n(v.indeterminateStored)} / ${n(v.indeterminateNotStored)}`)],
        ["deliveries checked against the log's claims", ...result.verdicts.map((v) => n(v.deliveriesChecked))],
        ["… a command held by two peers", ...result.verdicts.map((v) => n(v.doubleHolders))],
        ["acked commands whose result was read back", ...result.verdicts.map((v) => n(v.ackedResultsChecked))],
        ["… unreadable or different", ...result.verdicts.map((v) => n(v.ackedResultsUnreadable))]
      ],
      result.verdicts.map((_, i) => i + 1)
    ),
    ""
  )
  out.push(
    `Acknowledged writes by kind: ${Object.entries(result.writesAcked)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, count]) => `${kind} ${n(count)}`)
      .join(", ")}.`,
    "",
    `Round trips (send → a waiting worker takes it → ack → the sender reads the result): ${n(result.roundTrips.sent)} sent, ${n(result.roundTrips.completed)} settled (${Object.entries(result.roundTrips.byStatus)
      .map(([status, count]) => `${status} ${n(count)}`)
      .join(", ")}), ${n(result.roundTrips.unfinished)} unfinished at the end; p50 ${ms(result.roundTrips.p50Ms)}, p99 ${ms(result.roundTrips.p99Ms)} (a kill mid-round-trip costs a lease, 6 s).`,
    "",
    `Requests: ${n(result.requests.total)} (${n(result.requests.ok)} 2xx; refused: ${[...result.requests.refusedByStatus]
      .sort((a, b) => b[1] - a[1])
      .map(([status, count]) => `${status === 0 ? "MCP tool error" : status} × ${n(count)}`)
      .join(", ") || "none"}; no answer (connection refused or cut): ${n(result.requests.errors)}; dropped by the client: ${n(result.requests.aborted)}; stalled: ${n(result.requests.stalls)}).`,
    `Most frequent refusals: ${result.refusals.map(([what, count]) => `${what} × ${n(count)}`).join("; ") || "none"}.`,
    `MCP calls cut by a SIGKILL that the SDK left waiting until their timeout (not counted as stalls; see [what the runs found](#what-the-runs-found)): ${n(result.orphaned.count)}.`,
    `SSE: ${result.sse.followers} followers received ${n(result.sse.events)} events over ${n(result.sse.reconnects)} reconnections (each resumed with Last-Event-ID); channel readers made ${n(result.channelReads)} reads.`,
    "",
    `Restarts right after a SIGKILL: ${n(result.restarts.afterKill)} served, median ${ms(result.restarts.medianMs)} from spawn to serving, slowest ${ms(result.restarts.slowestMs)}; refused by the data-dir lock: ${n(result.restarts.refusedByLock)}; starts that failed otherwise: ${n(result.restarts.failedOther)}; brokers that exited by themselves: ${n(result.restarts.unexpectedExits.length)}.`,
    `Memory (RSS): peak ${Object.entries(result.memory.peakRssMb)
      .map(([name, mb]) => `${name} ${mb} MB`)
      .join(", ")}; at the end ${Object.entries(result.memory.endRssMb)
      .map(([name, mb]) => `${name} ${mb} MB`)
      .join(", ")}; nats-server peak ${result.memory.natsPeakRssMb} MB (bound checked: ${result.memory.limitMb} MB per broker).`,
    ""
  )

  out.push("**Invariant violations**", "")
  if (result.findings.counts.size === 0) out.push("None.", "")
  else {
    for (const [kind, count] of result.findings.counts) {
      out.push(`- **${kind}**: ${n(count)}`)
      for (const example of result.findings.examples.get(kind) ?? []) out.push(`  - ${example.split("\n")[0]!.slice(0, 400)}`)
    }
    out.push("")
  }
  if (result.stallRecords.length > 0) {
    out.push("Stalls:", "", ...result.stallRecords.slice(0, 10).map((s) => `- ${s.at} ${s.target} ${s.route} (deadline ${s.deadlineMs} ms)`), "")
  }
  if (result.restarts.failures.length > 0 || result.restarts.unexpectedExits.length > 0) {
    out.push("Failed starts and exits:", "")
    for (const f of result.restarts.failures.slice(0, 10)) out.push(`- ${f.broker}, ${f.reason}, ${f.failure}: \`${f.output.split("\n").filter(Boolean).at(-1)?.slice(0, 300) ?? ""}\``)
    for (const e of result.restarts.unexpectedExits.slice(0, 10)) out.push(`- ${e.broker} exited (code ${e.code}, signal ${e.signal}): \`${e.output.split("\n").filter(Boolean).at(-1)?.slice(0, 300) ?? ""}\``)
    out.push("")
  }
  return out.join("\n").trimEnd()
}

/** Whether every judged target passed. */
export const passed = (result: ChaosResult) => targetsOf(result).every((t) => t.pass !== false)

const skeleton = `# Reliability

\`npm run chaos\` runs the broker under mixed load for minutes while it injects faults, and checks
what it acknowledged against its log. It is not part of \`npm test\` (a one-minute smoke of it is).

${resultsStart}
${resultsEnd}
`

export const replaceBetween = (doc: string, start: string, end: string, content: string): string => {
  const block = `${start}\n${content.trimEnd()}\n${end}`
  const from = doc.indexOf(start.slice(0, start.indexOf("(")))
  const to = doc.indexOf(end)
  if (from >= 0 && to > from) return `${doc.slice(0, from)}${block}${doc.slice(to + end.length)}`
  return `${doc.trimEnd()}\n\n${block}\n`
}

export const writeDoc = async (results: string, path = docPath): Promise<void> => {
  const doc = existsSync(path) ? await readFile(path, "utf8") : skeleton
  await writeFile(path, replaceBetween(doc, resultsStart, resultsEnd, results))
}
