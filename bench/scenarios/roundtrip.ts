/**
 * Scenario 2, command round trip: one peer parked in `GET /commands/:peerId/wait`, a sender
 * posting `POST /commands/send`; the latency is from the send to the waiter's answer. Loop: park
 * the waiter, send, measure, ack, repeat. Once alone, once with 1,000 idle waiters of another role.
 */
import { once } from "node:events"
import type { Row } from "../report.js"
import { json, keepAliveAgent, quantile, request, sleep } from "../load.js"
import type { Server } from "../servers.js"
import { type Context, withServers } from "./context.js"
import { parkIdleWaiters } from "./waiters.js"

export interface RoundTripParams {
  readonly iterations: number
  readonly idleWaiters: number
  /** Bound on each measured loop. */
  readonly maxSeconds: number
}

export const roundTripParams = (quick: boolean): RoundTripParams =>
  quick ? { iterations: 50, idleWaiters: 200, maxSeconds: 20 } : { iterations: 500, idleWaiters: 1000, maxSeconds: 60 }

export interface Latencies {
  readonly p50: number
  readonly p99: number
  readonly n: number
}

/** `iterations` measured round trips (after a warm-up) against one server. */
export const roundTrips = async (ctx: Context, server: Server, params: RoundTripParams, tag: string): Promise<Latencies> => {
  const waiter = `rt-waiter-${tag}`
  const waiterAgent = keepAliveAgent(1)
  const senderAgent = keepAliveAgent(1)
  await json(senderAgent, "POST", `${server.url}/peers/connect`, { id: waiter, role: `rt-${tag}`, capabilities: [] })
  const latencies: Array<number> = []
  const deadline = performance.now() + params.maxSeconds * 1000
  // Unmeasured trips first, the same for both servers: the broker is measured warm, as it runs.
  // 20 were too few for its deeper stack: a fresh broker's first few hundred trips are 2–3× slower.
  const warmup = Math.min(200, params.iterations)
  try {
    for (let i = 0; i < params.iterations + warmup && performance.now() < deadline; i++) {
      const wait = request(waiterAgent, "GET", `${server.url}/commands/${waiter}/wait?timeout=10000`, { timeoutMs: 15_000 })
      await once(wait.req, "finish")
      await sleep(2) // let the server park it
      const started = performance.now()
      const sent = json(senderAgent, "POST", `${server.url}/commands/send`, {
        from: "rt-sender",
        target: waiter,
        action: "ping",
        params: { i }
      })
      const answer = await wait.done
      const elapsed = performance.now() - started
      await sent
      const command = (JSON.parse(answer.body) as { command: { id: string } | null }).command
      if (answer.status !== 200 || command === null) throw new Error(`${server.kind}: the waiter got ${answer.status} ${answer.body.slice(0, 200)}`)
      if (i >= warmup) latencies.push(elapsed)
      await json(senderAgent, "POST", `${server.url}/commands/${command.id}/ack`, { ok: true, result: { i } }, { "x-peer-id": waiter })
    }
  } finally {
    waiterAgent.destroy()
    senderAgent.destroy()
  }
  const result = { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), n: latencies.length }
  ctx.log(`  ${server.kind} ${tag}: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms over ${result.n} trips`)
  if (result.n < params.iterations) ctx.log(`  ! ${server.kind} ${tag}: only ${result.n} of ${params.iterations} trips within ${params.maxSeconds} s`)
  return result
}

export const roundTripScenario = async (ctx: Context, params: RoundTripParams = roundTripParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "roundtrip", async ({ broker, baseline }) => {
    const rows: Array<Row> = []
    const add = (label: string, b: Latencies, base: Latencies) => {
      rows.push(
        { scenario: `command round trip p50, ${label}`, unit: "ms", broker: b.p50, baseline: base.p50, target: { kind: "max", value: 2 } },
        { scenario: `command round trip p99, ${label}`, unit: "ms", broker: b.p99, baseline: base.p99, target: { kind: "max", value: 10 } }
      )
    }
    add("1 waiter", await roundTrips(ctx, broker, params, "alone"), await roundTrips(ctx, baseline, params, "alone"))
    const measured: Partial<Record<"broker" | "baseline", Latencies>> = {}
    for (const server of [broker, baseline]) {
      const idle = await parkIdleWaiters(server, params.idleWaiters)
      try {
        measured[server.kind] = await roundTrips(ctx, server, params, "crowd")
      } finally {
        idle.release()
      }
    }
    add(`1 waiter + ${params.idleWaiters.toLocaleString("en-US")} idle`, measured.broker!, measured.baseline!)
    return rows
  })
