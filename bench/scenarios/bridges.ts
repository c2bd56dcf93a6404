/**
 * Scenario 9, idle bridges: 1,000 MCP sessions as 1,000 stdio bridges hold them (links.ts: an SDK
 * Client over Streamable HTTP, `connect` called with its own role, the GET stream open), then a
 * window in which nobody does anything. Measured on the broker process only (the links live in the
 * harness's process): CPU over the window (utime + stime from /proc/<pid>/stat, as % of one core),
 * RSS growth (VmRSS once the links are connected and settled, minus before they connected), and how
 * many events the log gained during the window (the broker keeps the peers of open sessions online
 * with heartbeats, each a durable append).
 */
import { execFileSync } from "node:child_process"
import { readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import type { Row } from "../report.js"
import { json, keepAliveAgent, request, sleep } from "../load.js"
import { memoryOf, runsFromDist, startBroker } from "../servers.js"
import { newDataDir, removeDir, type Context } from "./context.js"
import { openLinks, type Links } from "./links.js"

export interface BridgesParams {
  readonly bridges: number
  /** Links opening at once. */
  readonly concurrency: number
  /** After the last stream opened, before the RSS is read and the window starts. */
  readonly settleSeconds: number
  /** The idle window. */
  readonly idleSeconds: number
}

export const bridgesParams = (quick: boolean): BridgesParams =>
  quick
    ? { bridges: 1000, concurrency: 50, settleSeconds: 2, idleSeconds: 10 }
    : { bridges: 1000, concurrency: 50, settleSeconds: 5, idleSeconds: 60 }

const clockTicks = (() => {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
})()

/** CPU seconds (user + system, all threads) a process has used so far; NaN off Linux. */
export const cpuSecondsOf = async (pid: number): Promise<number> => {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name, which is in parentheses and may hold spaces: state is the 3rd
    // field overall, utime the 14th and stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return NaN
  }
}

const int = (n: number) => Math.round(n).toLocaleString("en-US")

interface Appended {
  /** Events by type. */
  readonly types: Map<string, number>
  /** Wall-clock times (ms) of the heartbeats. */
  readonly heartbeatsAt: Array<number>
}

/** The events after `from` up to `to` (GET /log, NDJSON): counted by type, heartbeats timed. */
const appendedBetween = async (url: string, from: number, to: number): Promise<Appended> => {
  const types = new Map<string, number>()
  const heartbeatsAt: Array<number> = []
  if (to <= from) return { types, heartbeatsAt }
  const agent = keepAliveAgent(1)
  try {
    const response = await request(agent, "GET", `${url}/log?from=${from + 1}&to=${to}`, { timeoutMs: 30_000 }).done
    if (response.status !== 200) throw new Error(`GET /log answered ${response.status}: ${response.body.slice(0, 200)}`)
    for (const line of response.body.split("\n")) {
      if (line.trim() === "") continue
      const event = JSON.parse(line) as { seq?: number; type?: string; at?: string }
      if (event.seq !== undefined && (event.seq <= from || event.seq > to)) continue
      const type = event.type ?? "?"
      types.set(type, (types.get(type) ?? 0) + 1)
      if (type === "peer.heartbeat" && event.at !== undefined) heartbeatsAt.push(Date.parse(event.at))
    }
  } finally {
    agent.destroy()
  }
  return { types, heartbeatsAt }
}

interface Slice {
  /** Wall-clock start and end, ms. */
  readonly from: number
  readonly to: number
  /** CPU used in it, % of one core. */
  readonly cpuPercent: number
}

/** Reads the process's CPU time every `stepMs` for `seconds`: the whole window and its slices. */
const sampleCpu = async (pid: number, seconds: number, stepMs = 1_000): Promise<{ readonly percent: number; readonly seconds: number; readonly slices: Array<Slice> }> => {
  const slices: Array<Slice> = []
  const first = { cpu: await cpuSecondsOf(pid), mono: performance.now(), wall: Date.now() }
  let last = first
  const end = first.mono + seconds * 1000
  while (last.mono < end) {
    await sleep(Math.min(stepMs, end - last.mono))
    const now = { cpu: await cpuSecondsOf(pid), mono: performance.now(), wall: Date.now() }
    slices.push({ from: last.wall, to: now.wall, cpuPercent: ((now.cpu - last.cpu) / ((now.mono - last.mono) / 1000)) * 100 })
    last = now
  }
  const elapsed = (last.mono - first.mono) / 1000
  return { percent: ((last.cpu - first.cpu) / elapsed) * 100, seconds: elapsed, slices }
}

const mean = (values: ReadonlyArray<number>) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length)

export const bridgesScenario = async (ctx: Context, params: BridgesParams = bridgesParams(ctx.quick)): Promise<Array<Row>> => {
  const dataDir = await newDataDir(ctx, "bridges")
  if (!(await runsFromDist())) ctx.log("  ! dist is older than src: the broker runs src through tsx (slower, more memory)")
  const broker = await startBroker({ dataDir, nodeFlags: ctx.nodeFlags("bridges") })
  const agent = keepAliveAgent(1)
  let links: Links | undefined
  try {
    const head = async () => (await json<{ log: { head: number } }>(agent, "GET", `${broker.url}/status`)).log.head
    await head()
    await sleep(2_000)
    const before = await memoryOf(broker.pid)

    links = await openLinks(broker.url, params.bridges, "idle-bridge-", {
      concurrency: params.concurrency,
      withinMs: 120_000
    })
    const { roles } = await json<{ roles: Array<string> }>(agent, "GET", `${broker.url}/peers/discover`)
    const online = roles.filter((role) => role.startsWith("idle-bridge-")).length
    if (online < params.bridges) throw new Error(`only ${online} of ${params.bridges} bridge roles are online`)
    ctx.log(`  ${params.bridges} links connected, GET streams open, in ${(links.openedInMs / 1000).toFixed(1)} s`)
    await sleep(params.settleSeconds * 1000)
    const connected = await memoryOf(broker.pid)

    const logBytes = async () => (await stat(join(dataDir, "events.ndjson")).catch(() => ({ size: NaN }))).size
    const headBefore = await head()
    const bytesBefore = await logBytes()
    const cpu = await sampleCpu(broker.pid, params.idleSeconds)
    const bytesAfter = await logBytes()
    const headAfter = await head()
    const after = await memoryOf(broker.pid)

    const dropped = links.links.filter((link) => !link.streamOpen() || link.errors() > 0).length
    const growth = connected.rssMb - before.rssMb
    const appended = headAfter - headBefore
    const { types, heartbeatsAt } = await appendedBetween(broker.url, headBefore, headAfter)
    const typesText = [...types].sort((a, b) => b[1] - a[1]).map(([type, n]) => `${type} ${int(n)}`).join(", ")
    ctx.log(
      `  broker idle CPU ${cpu.percent.toFixed(2)}% of a core over ${cpu.seconds.toFixed(1)} s; ` +
        `RSS ${before.rssMb.toFixed(1)} → ${connected.rssMb.toFixed(1)} MB connected (+${growth.toFixed(1)}), ${after.rssMb.toFixed(1)} MB after the window; ` +
        `log +${int(appended)} events, +${((bytesAfter - bytesBefore) / 1024).toFixed(0)} KiB in the window (${typesText || "none"})${dropped > 0 ? `; ${dropped} links saw errors or no stream` : ""}`
    )
    // Where the CPU went: the seconds in which the sweep appended heartbeats, and the others.
    const withBeats = cpu.slices.map((slice) => ({ ...slice, beats: heartbeatsAt.filter((at) => at >= slice.from && at < slice.to).length }))
    const busy = withBeats.filter((slice) => slice.beats > 0)
    const quiet = withBeats.filter((slice) => slice.beats === 0)
    const beats = busy.reduce((sum, slice) => sum + slice.beats, 0)
    // CPU of the seconds with heartbeats above what the quiet seconds ran at, per heartbeat.
    const quietPercent = mean(quiet.map((slice) => slice.cpuPercent))
    const beatCpuMs = busy.reduce((sum, slice) => sum + ((slice.cpuPercent - quietPercent) / 100) * (slice.to - slice.from), 0)
    ctx.log(
      `  per second: ${quiet.length} s without heartbeats at ${quietPercent.toFixed(2)}% mean, ` +
        `${busy.length} s with ${int(beats)} heartbeats at ${mean(busy.map((s) => s.cpuPercent)).toFixed(2)}% mean` +
        (busy.length > 0 && quiet.length > 0 && beats > 0 ? ` (≈ ${((beatCpuMs * 1000) / beats).toFixed(0)} µs of CPU per heartbeat above the quiet seconds)` : "") +
        `; slices: ${withBeats.map((s) => `${s.cpuPercent.toFixed(1)}${s.beats > 0 ? `(${s.beats})` : ""}`).join(" ")}`
    )
    const n = params.bridges.toLocaleString("en-US")
    const window = `${Math.round(params.idleSeconds)} s`
    const heartbeats = types.get("peer.heartbeat") ?? 0
    return [
      { scenario: `${n} idle bridges (MCP sessions, GET streams open): broker CPU over ${window}, % of one core`, unit: "%", broker: cpu.percent, baseline: null, target: { kind: "max", value: 2 } },
      { scenario: `${n} idle bridges: broker RSS growth (connected and settled − before)`, unit: "MB", broker: growth, baseline: null, target: { kind: "max", value: 100 } },
      // What the sessions hold once V8 has collected what connecting them left (it compacts the
      // heap in the window, seconds after the connects stop): the growth above is mostly garbage.
      { scenario: `${n} idle bridges: broker RSS growth at the end of the window (− before)`, unit: "MB", broker: after.rssMb - before.rssMb, baseline: null, target: null },
      {
        scenario: `${n} idle bridges: events appended to the log in the ${window} window (${int(heartbeats)} peer.heartbeat, ${((bytesAfter - bytesBefore) / 2 ** 20).toFixed(2)} MiB)`,
        unit: "events",
        broker: appended,
        baseline: null,
        target: null
      }
    ]
  } finally {
    await links?.closeAll()
    agent.destroy()
    await broker.stop()
    await removeDir(ctx, dataDir)
  }
}
