/**
 * Scenario 3, fan-out: 1,000 waiters parked on one signal (`GET /signals/go/wait?timeout=60000`,
 * each on its own connection), then `POST /signals/go`; the figure is the time from the fire until
 * the last waiter has its answer. Repeated a few rounds (clearing the signal in between); median.
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
}

export const fanOutParams = (quick: boolean): FanOutParams => (quick ? { waiters: 200, rounds: 1 } : { waiters: 1000, rounds: 5 })

const fanOut = async (ctx: Context, server: Server, params: FanOutParams): Promise<number> => {
  // Keep-alive, so later rounds reuse the connections and measure the wake-up, not the handshakes.
  const waitAgent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const control = keepAliveAgent(1)
  const lasts: Array<number> = []
  try {
    for (let round = 0; round < params.rounds; round++) {
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
      lasts.push(last)
      ctx.log(`  ${server.kind} round ${round + 1}: last of ${params.waiters} answered ${last.toFixed(1)} ms after the fire`)
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
      scenario: `fan-out: ${params.waiters.toLocaleString("en-US")} signal waiters, fire → last answered (median of ${params.rounds})`,
      unit: "ms",
      broker: await fanOut(ctx, broker, params),
      baseline: await fanOut(ctx, baseline, params),
      target: { kind: "max-ratio", value: 1.5 }
    }
  ])
