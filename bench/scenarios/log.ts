/**
 * Scenarios 5–7 on large logs, which share the expensive part (generating the files and starting
 * brokers on them), so they run together and each contributes the rows that were asked for.
 *
 * 5. Start-up: time from spawn until `/status` answers, on logs of 100k and 1M events, without a
 *    checkpoint (the first start) and with one (the start after a clean SIGTERM, which writes
 *    `checkpoint.json`); peak RSS (VmHWM) of each.
 * 6. Replay: `/status?at=<seq>` for random seqs of the 1M log: on the broker that replayed the whole
 *    log at start (in-memory checkpoints along the way), and a few on the one started from the
 *    stored checkpoint.
 * 7. Memory: RSS with the 1M log (both starts); RSS with 10,000 connected peers (memoryScenario).
 */
import { rm } from "node:fs/promises"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { seeded } from "../../test/support/random.js"
import { generateLog } from "../generate-log.js"
import type { Row } from "../report.js"
import { json, keepAliveAgent, pool, quantile, request, sleep } from "../load.js"
import { memoryOf, startBaseline, startBroker, type Memory, type Server } from "../servers.js"
import { type Context, newDataDir, removeDir } from "./context.js"

export interface LogParams {
  readonly sizes: ReadonlyArray<number>
  readonly replaySamples: number
  readonly replaySeconds: number
  /** Samples of replay on the broker started from a stored checkpoint (each may take long). */
  readonly replayFromStoredSamples: number
  readonly replayFromStoredTimeoutMs: number
  readonly startTimeoutMs: number
}

export const logParams = (quick: boolean): LogParams =>
  quick
    ? { sizes: [20_000, 100_000], replaySamples: 20, replaySeconds: 20, replayFromStoredSamples: 1, replayFromStoredTimeoutMs: 20_000, startTimeoutMs: 120_000 }
    : { sizes: [100_000, 1_000_000], replaySamples: 100, replaySeconds: 60, replayFromStoredSamples: 3, replayFromStoredTimeoutMs: 30_000, startTimeoutMs: 300_000 }

export type LogPart = "startup" | "replay" | "memory"

const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`)

interface Start {
  readonly server: Server
  /** Spawn → first `/status` answer. */
  readonly statusMs: number
  /** Right after that answer. */
  readonly atReady: Memory
}

/** Start on `dataDir` and time it until `/status` answers. */
const timedStart = async (ctx: Context, dataDir: string, timeoutMs: number, scenario: string): Promise<Start> => {
  const server = await startBroker({ dataDir, timeoutMs, nodeFlags: ctx.nodeFlags(scenario) })
  const agent = keepAliveAgent(1)
  // The announcement comes as it starts listening; poll in case /status is not served yet.
  let statusMs = NaN
  for (let i = 0; i < 100; i++) {
    const response = await request(agent, "GET", `${server.url}/status`, { timeoutMs }).done.catch(() => undefined)
    if (response?.status === 200) {
      statusMs = performance.now() - server.spawnedAt
      break
    }
    await sleep(10)
  }
  agent.destroy()
  return { server, statusMs, atReady: await memoryOf(server.pid) }
}

/** RSS once the start-up garbage had a moment to be collected. */
const settledMemory = async (server: Server): Promise<Memory> => {
  await sleep(2000)
  return memoryOf(server.pid)
}

/** `/status?at=` for random seqs in [1, head]: latencies in ms (timeouts count as the timeout). */
const replayLatencies = async (
  ctx: Context,
  server: Server,
  head: number,
  samples: number,
  seconds: number,
  timeoutMs: number
): Promise<{ latencies: Array<number>; timedOut: number }> => {
  const agent = keepAliveAgent(1)
  const latencies: Array<number> = []
  let timedOut = 0
  // The same seqs on every run, so two runs measure the same replays.
  const random = seeded(0x9e3779b9)
  const deadline = performance.now() + seconds * 1000
  try {
    for (let i = 0; i < samples && performance.now() < deadline; i++) {
      const seq = 1 + random.int(head)
      const started = performance.now()
      const response = await request(agent, "GET", `${server.url}/status?at=${seq}`, { timeoutMs }).done.catch(() => undefined)
      if (response === undefined) {
        latencies.push(timeoutMs)
        timedOut += 1
        ctx.log(`  ! /status?at=${seq} gave no answer within ${timeoutMs} ms`)
        break // the broker is still busy with it; more samples would only queue behind
      }
      if (response.status !== 200) throw new Error(`/status?at=${seq} answered ${response.status}: ${response.body.slice(0, 200)}`)
      latencies.push(performance.now() - started)
    }
  } finally {
    agent.destroy()
  }
  return { latencies, timedOut }
}

export const largeLogScenario = async (
  ctx: Context,
  parts: ReadonlySet<LogPart>,
  params: LogParams = logParams(ctx.quick)
): Promise<Array<Row>> => {
  const startup: Array<Row> = []
  const replay: Array<Row> = []
  const memory: Array<Row> = []
  const largest = Math.max(...params.sizes)

  // The floor: a broker on an empty log, and the bare server.
  const emptyDir = await newDataDir(ctx, "empty")
  const empty = await timedStart(ctx, emptyDir, params.startTimeoutMs, "startup")
  await empty.server.stop()
  await removeDir(ctx, emptyDir)
  const bare = await startBaseline()
  const bareAgent = keepAliveAgent(1)
  await json(bareAgent, "GET", `${bare.url}/status`)
  const bareMs = performance.now() - bare.spawnedAt
  bareAgent.destroy()
  await bare.stop()
  ctx.log(`  empty log: /status after ${empty.statusMs.toFixed(0)} ms (bare server ${bareMs.toFixed(0)} ms)`)
  startup.push({ scenario: "start-up, empty log: spawn → /status answers", unit: "ms", broker: empty.statusMs, baseline: bareMs, target: null })

  for (const size of params.sizes) {
    const name = label(size)
    const dataDir = await newDataDir(ctx, `log-${name}`)
    try {
      const generatedAt = performance.now()
      const generated = await generateLog(dataDir, { count: size })
      ctx.log(`  generated ${name} events (${(generated.bytes / 1e6).toFixed(0)} MB) in ${((performance.now() - generatedAt) / 1000).toFixed(1)} s`)

      // First start: no checkpoint, the whole log is replayed.
      const cold = await timedStart(ctx, dataDir, params.startTimeoutMs, "startup")
      ctx.log(`  ${name}, no checkpoint: /status after ${cold.statusMs.toFixed(0)} ms, peak RSS ${cold.atReady.peakMb.toFixed(0)} MB`)
      const coldSettled = await settledMemory(cold.server)
      if (size === largest && parts.has("replay")) {
        const { latencies } = await replayLatencies(ctx, cold.server, size, params.replaySamples, params.replaySeconds, 30_000)
        ctx.log(`  replay after a full-replay start: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms over ${latencies.length}`)
        replay.push(
          { scenario: `replay /status?at=<random seq>, ${name} log, p50 (after a full-replay start)`, unit: "ms", broker: quantile(latencies, 0.5), baseline: null, target: { kind: "max", value: 100 } },
          { scenario: `replay /status?at=<random seq>, ${name} log, p99 (after a full-replay start)`, unit: "ms", broker: quantile(latencies, 0.99), baseline: null, target: { kind: "max", value: 100 } }
        )
      }
      const stopAt = performance.now()
      const code = await cold.server.stop("SIGTERM", 60_000)
      ctx.log(`  ${name}: clean shutdown (exit ${code}) in ${(performance.now() - stopAt).toFixed(0)} ms`)
      if (!existsSync(join(dataDir, "checkpoint.json"))) ctx.log(`  ! ${name}: no checkpoint.json after SIGTERM`)

      // Second start: from the checkpoint written at shutdown.
      const warm = await timedStart(ctx, dataDir, params.startTimeoutMs, "startup")
      ctx.log(`  ${name}, with checkpoint: /status after ${warm.statusMs.toFixed(0)} ms, peak RSS ${warm.atReady.peakMb.toFixed(0)} MB`)
      const warmSettled = await settledMemory(warm.server)
      let warmBusy = false
      if (size === largest && parts.has("replay") && params.replayFromStoredSamples > 0) {
        const { latencies, timedOut } = await replayLatencies(
          ctx,
          warm.server,
          size,
          params.replayFromStoredSamples,
          params.replayFromStoredTimeoutMs / 1000,
          params.replayFromStoredTimeoutMs
        )
        ctx.log(`  replay after a checkpoint start: ${latencies.map((ms) => ms.toFixed(0)).join(", ")} ms`)
        warmBusy = timedOut > 0
        replay.push({
          scenario: `replay /status?at=<random seq>, ${name} log, p50 of ${latencies.length} (after a checkpoint start${timedOut > 0 ? `; ${timedOut} hit the ${params.replayFromStoredTimeoutMs / 1000} s limit` : ""})`,
          unit: "ms",
          broker: quantile(latencies, 0.5),
          // Half or more hit the limit: the median is somewhere beyond it.
          brokerAtLeast: timedOut * 2 >= latencies.length,
          baseline: null,
          target: { kind: "max", value: 100 }
        })
      }
      // Still folding the log for an abandoned /status?at=: nothing left to learn from a clean stop.
      await warm.server.stop(warmBusy ? "SIGKILL" : "SIGTERM", 60_000)

      startup.push(
        {
          scenario: `start-up, ${name}-event log, no checkpoint: spawn → /status`,
          unit: "ms",
          broker: cold.statusMs,
          baseline: empty.statusMs,
          baselineIs: "broker, empty log",
          target: null
        },
        {
          scenario: `start-up, ${name}-event log, with checkpoint: spawn → /status`,
          unit: "ms",
          broker: warm.statusMs,
          baseline: empty.statusMs,
          baselineIs: "broker, empty log",
          target: size >= 1_000_000 ? { kind: "max", value: 3000 } : null
        },
        { scenario: `start-up, ${name}-event log, no checkpoint: peak RSS`, unit: "MB", broker: cold.atReady.peakMb, baseline: null, target: null },
        { scenario: `start-up, ${name}-event log, with checkpoint: peak RSS`, unit: "MB", broker: warm.atReady.peakMb, baseline: null, target: null }
      )
      if (size === largest) {
        memory.push(
          {
            scenario: `RSS with a ${name}-event log (started from its checkpoint, settled)`,
            unit: "MB",
            broker: warmSettled.rssMb,
            baseline: null,
            target: { kind: "max", value: 250 }
          },
          {
            scenario: `RSS with a ${name}-event log (started by full replay, settled)`,
            unit: "MB",
            broker: coldSettled.rssMb,
            baseline: null,
            target: { kind: "max", value: 250 }
          }
        )
      }
    } finally {
      if (ctx.keep) ctx.log(`  kept ${dataDir}`)
      else await rm(dataDir, { recursive: true, force: true })
    }
  }
  return [...(parts.has("startup") ? startup : []), ...(parts.has("replay") ? replay : []), ...(parts.has("memory") ? memory : [])]
}

export interface PeersParams {
  readonly peers: number
}

export const peersParams = (quick: boolean): PeersParams => ({ peers: quick ? 1000 : 10_000 })

const connectPeers = async (server: Server, count: number) => {
  const agent = keepAliveAgent(32)
  const done = await pool(count, 32, performance.now() + 120_000, async (i) => {
    await json(agent, "POST", `${server.url}/peers/connect`, { id: `mem-${i}`, role: `role-${i % 10}`, capabilities: ["git", "test"], name: `peer ${i}` })
  })
  agent.destroy()
  if (done < count) throw new Error(`${server.kind}: only ${done} of ${count} peers connected within 120 s`)
}

/** Scenario 7, first half: RSS idle, and with 10,000 connected peers. */
export const peersMemoryScenario = async (ctx: Context, params: PeersParams = peersParams(ctx.quick)): Promise<Array<Row>> => {
  const dataDir = await newDataDir(ctx, "memory")
  const [broker, baseline] = await Promise.all([startBroker({ dataDir, nodeFlags: ctx.nodeFlags("memory") }), startBaseline()])
  try {
    await sleep(1000)
    const idle = await Promise.all([memoryOf(broker.pid), memoryOf(baseline.pid)])
    const started = performance.now()
    await connectPeers(broker, params.peers)
    ctx.log(`  broker: ${params.peers} peers connected in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    await connectPeers(baseline, params.peers)
    await sleep(2000)
    const loaded = await Promise.all([memoryOf(broker.pid), memoryOf(baseline.pid)])
    ctx.log(`  RSS idle ${idle[0].rssMb.toFixed(0)} / ${idle[1].rssMb.toFixed(0)} MB; with peers ${loaded[0].rssMb.toFixed(0)} / ${loaded[1].rssMb.toFixed(0)} MB (broker / baseline)`)
    return [
      { scenario: "RSS idle, empty log", unit: "MB", broker: idle[0].rssMb, baseline: idle[1].rssMb, target: null },
      {
        scenario: `RSS with ${params.peers.toLocaleString("en-US")} connected peers`,
        unit: "MB",
        broker: loaded[0].rssMb,
        baseline: loaded[1].rssMb,
        target: null
      }
    ]
  } finally {
    await Promise.all([broker.stop(), baseline.stop()])
    await removeDir(ctx, dataDir)
  }
}
