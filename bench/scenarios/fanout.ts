/**
 * Scenario 3, fan-out: 1,000 waiters parked on one signal (`GET /signals/go/wait?timeout=60000`,
 * each on its own connection), then `POST /signals/go`; the figure is the time from the fire until
 * the last waiter has its answer. Repeated a few rounds (clearing the signal in between); median.
 * The first rounds are not counted, for either server: a fresh process runs them on cold code
 * (its first three rounds took twice as long as the next ones), and the wake-up is what is measured.
 */
import { once } from "node:events"
import { Agent, type ClientRequest } from "node:http"
import type { Row } from "../report.js"
import { json, keepAliveAgent, median, request, sleep, type Response } from "../load.js"
import type { Server } from "../servers.js"
import { type Context, withServers } from "./context.js"

export interface FanOutParams {
  readonly waiters: number
  readonly rounds: number
  /** Rounds run first and not counted. */
  readonly warmupRounds: number
}

export const fanOutParams = (quick: boolean): FanOutParams => (quick ? { waiters: 200, rounds: 1, warmupRounds: 0 } : { waiters: 1000, rounds: 5, warmupRounds: 3 })

const fanOut = async (ctx: Context, server: Server, params: FanOutParams): Promise<number> => {
  // Keep-alive, so later rounds reuse the connections and measure the wake-up, not the handshakes.
  const waitAgent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const control = keepAliveAgent(1)
  const lasts: Array<number> = []
  try {
    for (let round = 0; round < params.warmupRounds + params.rounds; round++) {
      const counted = round >= params.warmupRounds
      await json(control, "DELETE", `${server.url}/signals/go`)
      const requests: Array<ClientRequest> = []
      const answered: Array<Promise<{ response: Response; at: number }>> = []
      for (let i = 0; i < params.waiters; i++) {
        const { req, done } = request(waitAgent, "GET", `${server.url}/signals/go/wait?timeout=60000`, { timeoutMs: 70_000 })
        requests.push(req)
        answered.push(done.then((response) => ({ response, at: performance.now() })))
      }
      await Promise.all(requests.map((req) => once(req, "finish")))
      await sleep(round === 0 ? 1500 : 750) // let the server accept and park them all
      const fired = performance.now()
      await json(control, "POST", `${server.url}/signals/go`, { data: { round } })
      const results = await Promise.all(answered)
      const bad = results.filter(({ response }) => response.status !== 200 || !response.body.includes('"timedOut":false'))
      if (bad.length > 0) throw new Error(`${server.kind}: ${bad.length} waiters got a wrong answer, e.g. ${bad[0]!.response.body.slice(0, 200)}`)
      const last = Math.max(...results.map(({ at }) => at)) - fired
      if (counted) lasts.push(last)
      const name = counted ? `round ${round - params.warmupRounds + 1}` : `warm-up ${round + 1}`
      ctx.log(`  ${server.kind} ${name}: last of ${params.waiters} answered ${last.toFixed(1)} ms after the fire`)
    }
  } finally {
    waitAgent.destroy()
    control.destroy()
  }
  return median(lasts)
}

export const fanOutScenario = async (ctx: Context, params: FanOutParams = fanOutParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "fanout", async ({ broker, baseline }) => [
    {
      scenario: `fan-out: ${params.waiters.toLocaleString("en-US")} signal waiters, fire → last answered (median of ${params.rounds}${params.warmupRounds > 0 ? `, after ${params.warmupRounds} unmeasured` : ""})`,
      unit: "ms",
      broker: await fanOut(ctx, broker, params),
      baseline: await fanOut(ctx, baseline, params),
      target: { kind: "max-ratio", value: 1.5 }
    }
  ])
