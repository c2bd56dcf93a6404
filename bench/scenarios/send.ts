/**
 * Scenario 1, channel send throughput: POST /channels/bench/send with a small JSON body from 10
 * and from 100 keep-alive connections. For the broker every 2xx is a durable append (the answer
 * comes after the group-committed fdatasync), checked against the log's head.
 *
 * Also "waiting costs nothing per event": the same load with 1,000 idle command waiters parked.
 */
import type { Row } from "../report.js"
import { json, keepAliveAgent, postLoad, sleep, type Throughput } from "../load.js"
import type { Server } from "../servers.js"
import { type Context, withServers } from "./context.js"
import { parkIdleWaiters } from "./waiters.js"

export interface SendParams {
  readonly connections: ReadonlyArray<number>
  /** Seconds per measured run. */
  readonly seconds: number
  /** Measured runs per server and connection count, alternating broker and baseline. */
  readonly rounds: number
  readonly warmupSeconds: number
}

export const sendParams = (quick: boolean): SendParams =>
  quick
    ? { connections: [10, 100], seconds: 2, rounds: 1, warmupSeconds: 0.5 }
    : { connections: [10, 100], seconds: 5, rounds: 2, warmupSeconds: 1 }

const body = { text: "build 4711 passed on main", ok: true, n: 1 }

const head = async (server: Server) =>
  (await json<{ log: { head: number } }>(keepAliveAgent(1), "GET", `${server.url}/status`)).log.head

/** Several measured runs as one: total 2xx over total seconds. */
const combine = (runs: ReadonlyArray<Throughput>): Throughput => {
  const ok = runs.reduce((n, run) => n + run.ok, 0)
  const seconds = runs.reduce((n, run) => n + run.seconds, 0)
  return {
    perSecond: ok / seconds,
    ok,
    failed: runs.reduce((n, run) => n + run.failed, 0),
    seconds,
    p50Ms: Math.max(...runs.map((run) => run.p50Ms)),
    p99Ms: Math.max(...runs.map((run) => run.p99Ms))
  }
}

const measure = async (ctx: Context, server: Server, connections: number, params: SendParams, runs: Array<Throughput>) => {
  const url = `${server.url}/channels/bench/send`
  const before = server.kind === "broker" ? await head(server) : 0
  const run = await postLoad(url, body, connections, params.seconds)
  if (server.kind === "broker") {
    const appended = (await head(server)) - before
    // Every 2xx must be an event on disk; the sweeper may add a few of its own.
    if (appended < run.ok) ctx.log(`  ! broker answered ${run.ok} sends with 2xx but the log grew by ${appended}`)
  }
  if (run.failed > 0) ctx.log(`  ! ${server.kind}: ${run.failed} failed sends`)
  ctx.log(
    `  ${server.kind} ${connections} conns: ${Math.round(run.perSecond)}/s (${run.ok} in ${run.seconds.toFixed(1)} s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms)`
  )
  runs.push(run)
}

export const sendScenario = async (ctx: Context, params: SendParams = sendParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "send", async ({ broker, baseline }) => {
    const rows: Array<Row> = []
    for (const connections of params.connections) {
      const runs: Record<"broker" | "baseline", Array<Throughput>> = { broker: [], baseline: [] }
      for (const server of [broker, baseline]) {
        if (params.warmupSeconds > 0) await postLoad(`${server.url}/channels/bench/send`, body, connections, params.warmupSeconds)
      }
      for (let round = 0; round < params.rounds; round++) {
        for (const server of [broker, baseline]) await measure(ctx, server, connections, params, runs[server.kind])
      }
      rows.push({
        scenario: `channel send, ${connections} connections (durable appends/s vs req/s)`,
        unit: "/s",
        broker: combine(runs.broker).perSecond,
        baseline: combine(runs.baseline).perSecond,
        target: connections >= 100 ? { kind: "min-ratio", value: 0.5 } : null
      })
    }
    return rows
  })

export interface IdleParams {
  readonly connections: number
  readonly seconds: number
  readonly waiters: number
  /** Measured pairs (without, with), in A B B A order so that drift of the machine hits both alike. */
  readonly rounds: number
}

export const idleParams = (quick: boolean): IdleParams =>
  quick ? { connections: 100, seconds: 1, waiters: 200, rounds: 2 } : { connections: 100, seconds: 5, waiters: 1000, rounds: 2 }

/** Channel sends with and without idle command waiters parked: parked waits should cost nothing per event. */
export const idleScenario = async (ctx: Context, params: IdleParams = idleParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "idle", async ({ broker }) => {
    const url = `${broker.url}/channels/bench/send`
    // A fresh broker is slower for its first seconds (JIT); warm it up before the first pair.
    await postLoad(url, body, params.connections, 3)
    const without: Array<Throughput> = []
    const withWaiters: Array<Throughput> = []
    const measureAlone = async () => {
      const alone = await postLoad(url, body, params.connections, params.seconds)
      without.push(alone)
      ctx.log(`  broker, no waiters: ${Math.round(alone.perSecond)}/s`)
    }
    const measureCrowded = async (round: number) => {
      const idle = await parkIdleWaiters(broker, params.waiters, 120_000, `r${round}`)
      try {
        const crowded = await postLoad(url, body, params.connections, params.seconds)
        withWaiters.push(crowded)
        ctx.log(`  broker, ${params.waiters} idle waiters parked: ${Math.round(crowded.perSecond)}/s`)
      } finally {
        idle.release()
      }
      await sleep(500)
    }
    // A B B A …: a broker that keeps getting faster as it warms up must not favour either side.
    for (let round = 0; round < params.rounds; round++) {
      if (round % 2 === 0) {
        await measureAlone()
        await measureCrowded(round)
      } else {
        await measureCrowded(round)
        await measureAlone()
      }
    }
    return [
      {
        scenario: `channel send, ${params.connections} conns, ${params.waiters.toLocaleString("en-US")} idle command waiters parked`,
        unit: "/s",
        broker: combine(withWaiters).perSecond,
        baseline: combine(without).perSecond,
        baselineIs: "broker, no waiters",
        target: { kind: "min-ratio", value: 0.9 }
      }
    ]
  })
