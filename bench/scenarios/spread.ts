/**
 * Spread, issue 19 part 3: what running one broker group per group of projects buys. Durable
 * channel sends on the JetStream backend from 100 connections into 4 projects, (a) all 4 on ONE
 * broker process with its one stream, against (b) each project on a broker process of its own,
 * each with its own fresh stream (`--nats-stream`), the way docs/scaling.md spreads projects
 * (#projects-over-several-streams). The client code is the same for both — one autocannon run over
 * 4 URLs, connection i always on URL i mod 4 — only the URLs differ: 4 project prefixes of one
 * broker, or one prefix on each of 4 brokers. Warm-up, then alternating rounds; every stream is
 * fresh and deleted afterwards; loopback only.
 *
 * No target: on one machine all five broker processes, nats-server and the load share the same
 * cores, so the aggregate is expected flat (the gain of more streams is for more machines). What the
 * scenario also logs, per round, where the CPU went per 1,000 sends — the broker processes, the
 * load (this process), the local nats-server (found with `ss`) and the rest of the machine — the
 * measured parts of the capacity model in docs/scaling.md. Without a reachable NATS server the row says "skipped (no NATS)".
 */
import { execFile } from "node:child_process"
import { readFile } from "node:fs/promises"
import type { Row } from "../report.js"
import { json, keepAliveAgent, postLoadUrls, type Throughput } from "../load.js"
import { startBroker, type Server } from "../servers.js"
import { benchStream, deleteStreams, natsMissing, natsUrl } from "../jetstreamBaseline.js"
import { cpuSecondsOf } from "./bridges.js"
import { type Context, newDataDir, removeDir } from "./context.js"

export interface SpreadParams {
  readonly projects: number
  readonly connections: number
  readonly seconds: number
  /** Measured runs per side, alternating (A B, then B A, …). */
  readonly rounds: number
  /**
   * Unmeasured sends each broker gets first (the JIT): a count, not a time, since a broker of (b)
   * sees a quarter of the load and would be colder than (a)'s after the same seconds.
   */
  readonly warmupPerBroker: number
}

export const spreadParams = (quick: boolean): SpreadParams =>
  quick
    ? { projects: 4, connections: 100, seconds: 2, rounds: 1, warmupPerBroker: 2_000 }
    : { projects: 4, connections: 100, seconds: 3, rounds: 2, warmupPerBroker: 4_000 }

const body = { text: "build 4711 passed on main", ok: true, n: 1 }

const label = (p: SpreadParams) =>
  `spread: channel send (JetStream), ${p.connections} conns, ${p.projects} projects on ${p.projects} brokers × own stream`
const baselineIs = (p: SpreadParams) => `${p.projects} projects, 1 broker, 1 stream`

const headOf = async (server: Server) =>
  (await json<{ log: { head: number; backend: string } }>(keepAliveAgent(1), "GET", `${server.url}/status`)).log

/** Busy CPU seconds of the whole machine (all cores) so far, from /proc/stat; NaN off Linux. */
const machineCpuSeconds = async (): Promise<number> => {
  try {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return (user! + nice! + system! + irq! + softirq! + steal!) / 100
  } catch {
    return NaN
  }
}

/**
 * The pid of the local nats-server listening on `url`'s port (from `ss`), to read its CPU time; undefined
 * where that cannot be found (another host, no `ss`): the rest of the machine is then reported as one.
 */
const natsServerPid = (url: string): Promise<number | undefined> =>
  new Promise((resolve) => {
    const first = new URL(url.split(",")[0]!)
    if (!["127.0.0.1", "localhost", "[::1]"].includes(first.hostname)) return resolve(undefined)
    execFile("ss", ["-Hltnp", `sport = :${first.port || "4222"}`], { timeout: 2_000 }, (error, stdout) => {
      const pid = error ? undefined : /"nats-server",pid=(\d+)/.exec(stdout)?.[1]
      resolve(pid === undefined ? undefined : Number(pid))
    })
  })

interface Round extends Throughput {
  /** CPU seconds per 1,000 sends: all broker processes, this process (the load), nats-server, the rest of the machine. */
  readonly cpuPerK: { readonly brokers: number; readonly load: number; readonly nats: number; readonly rest: number }
  /** Events each broker's head grew by. */
  readonly appended: ReadonlyArray<number>
}

const total = (runs: ReadonlyArray<Throughput>) =>
  runs.reduce((n, run) => n + run.ok, 0) / runs.reduce((n, run) => n + run.seconds, 0)

const ms = (x: number) => (x * 1000).toFixed(0)

export const spreadScenario = async (
  ctx: Context,
  params: SpreadParams = spreadParams(ctx.quick),
  nats = natsUrl
): Promise<Array<Row>> => {
  const missing = await natsMissing(nats)
  if (missing !== undefined) {
    ctx.log(`  skipped: ${missing}`)
    return [{ scenario: `${label(params)}: skipped (no NATS)`, unit: "/s", broker: NaN, baseline: null, target: null }]
  }
  const oneStream = benchStream("spread_one")
  const ownStreams = Array.from({ length: params.projects }, (_, i) => benchStream(`spread_${i}`))
  const streams = [oneStream, ...ownStreams]
  const dataDirs: Array<string> = []
  const brokers: Array<Server> = []
  try {
    for (let i = 0; i < streams.length; i++) dataDirs.push(await newDataDir(ctx, `spread-${i}`))
    const began = performance.now()
    const since = () => `${((performance.now() - began) / 1000).toFixed(1)} s`
    // Started together (bounded: each start times out after 60 s); a failed start fails the row.
    const started = await Promise.allSettled(
      streams.map((stream, i) =>
        startBroker({ dataDir: dataDirs[i]!, nodeFlags: ctx.nodeFlags("spread"), brokerFlags: ["--store", nats, "--nats-stream", stream] })
      )
    )
    for (const result of started) if (result.status === "fulfilled") brokers.push(result.value)
    const failed = started.find((result) => result.status === "rejected")
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    for (const broker of brokers) {
      const { backend } = await headOf(broker)
      if (backend !== "jetstream") throw new Error(`a broker runs on ${backend}, not jetstream`)
    }
    ctx.log(`  ${brokers.length} brokers on streams of their own ready after ${since()}`)
    const one = brokers[0]!
    const own = brokers.slice(1)
    const names = Array.from({ length: params.projects }, (_, i) => `spread-${i}`)
    const path = (name: string) => `/p/${name}/channels/bench/send`
    const sides = {
      one: { urls: names.map((name) => `${one.url}${path(name)}`), brokers: [one], text: `${params.projects} projects on 1 broker, 1 stream` },
      own: { urls: names.map((name, i) => `${own[i]!.url}${path(name)}`), brokers: own, text: `${params.projects} projects on ${params.projects} brokers, own streams` }
    }
    // A first message into every project, so that its channel exists on both sides.
    const agent = keepAliveAgent(4)
    await Promise.all([...sides.one.urls, ...sides.own.urls].map((url) => json(agent, "POST", url, body)))
    agent.destroy()
    // The same number of unmeasured sends into every broker, each warm-up capped at 10 s.
    await postLoadUrls(sides.one.urls, body, params.connections, 10, params.warmupPerBroker)
    await postLoadUrls(sides.own.urls, body, params.connections, 10, params.warmupPerBroker * params.projects)
    ctx.log(`  warmed up (${params.warmupPerBroker} sends into each broker) after ${since()}`)

    const natsPid = await natsServerPid(nats)
    const natsCpu = () => (natsPid === undefined ? Promise.resolve(0) : cpuSecondsOf(natsPid))
    const measure = async (side: (typeof sides)["one"]): Promise<Round> => {
      const heads = await Promise.all(side.brokers.map(async (broker) => (await headOf(broker)).head))
      const brokerCpu = async () => (await Promise.all(brokers.map((broker) => cpuSecondsOf(broker.pid)))).reduce((a, b) => a + b, 0)
      const [brokers0, nats0, machine0, load0] = [await brokerCpu(), await natsCpu(), await machineCpuSeconds(), process.cpuUsage()]
      const run = await postLoadUrls(side.urls, body, params.connections, params.seconds)
      const loadUsage = process.cpuUsage(load0)
      const [brokers1, nats1, machine1] = [await brokerCpu(), await natsCpu(), await machineCpuSeconds()]
      const appended = (await Promise.all(side.brokers.map(async (broker) => (await headOf(broker)).head))).map((head, i) => head - heads[i]!)
      const sum = appended.reduce((a, b) => a + b, 0)
      if (sum < run.ok) ctx.log(`  ! ${run.ok} sends answered 2xx but the brokers' views of their streams grew by ${sum}`)
      const k = Math.max(run.ok, 1) / 1000
      const [brokersCpu, natsServerCpu, loadCpu] = [brokers1 - brokers0, nats1 - nats0, (loadUsage.user + loadUsage.system) / 1e6]
      const cpuPerK = {
        brokers: brokersCpu / k,
        load: loadCpu / k,
        nats: natsServerCpu / k,
        rest: (machine1 - machine0 - brokersCpu - natsServerCpu - loadCpu) / k
      }
      ctx.log(
        `  ${side.text}: ${Math.round(run.perSecond)}/s (p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ${run.failed} failed; ` +
          `per broker ${appended.join(" + ")}); CPU ms per 1,000 sends: brokers ${ms(cpuPerK.brokers)}, load ${ms(cpuPerK.load)}, ` +
          `${natsPid === undefined ? "" : `nats-server ${ms(cpuPerK.nats)}, `}rest of the machine ${ms(cpuPerK.rest)}`
      )
      return { ...run, cpuPerK, appended }
    }
    const oneRuns: Array<Round> = []
    const ownRuns: Array<Round> = []
    for (let round = 0; round < params.rounds; round++) {
      if (round % 2 === 0) {
        oneRuns.push(await measure(sides.one))
        ownRuns.push(await measure(sides.own))
      } else {
        ownRuns.push(await measure(sides.own))
        oneRuns.push(await measure(sides.one))
      }
    }
    return [
      {
        scenario: label(params),
        unit: "/s",
        broker: total(ownRuns),
        baseline: total(oneRuns),
        baselineIs: baselineIs(params),
        target: null
      }
    ]
  } finally {
    await Promise.all(brokers.map((broker) => broker.stop()))
    await deleteStreams(streams, nats).catch((error) => ctx.log(`  ! could not delete the bench streams: ${String(error)}`))
    for (const dir of dataDirs) await removeDir(ctx, dir)
  }
}
