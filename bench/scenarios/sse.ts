/**
 * Scenario 4, SSE: 100 `/events` clients (in a process of their own, bench/sse-clients.ts) while
 * 10,000 events are produced by concurrent channel sends. Figures: delivered events per second
 * (all clients together, and per client) from the first send to the last frame received, and the
 * lag of each frame (receive time minus the event's `at`).
 */
import { fork } from "node:child_process"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import type { Row } from "../report.js"
import { postAmount, sleep } from "../load.js"
import type { Server } from "../servers.js"
import type { SseCommand, SseDone, SseReport } from "../sse-clients.js"
import { type Context, withServers } from "./context.js"

export interface SseParams {
  readonly clients: number
  readonly events: number
  readonly producerConnections: number
  /** The burst stops early after this, if the server appends more slowly. */
  readonly producerMaxSeconds: number
}

export const sseParams = (quick: boolean): SseParams =>
  quick
    ? { clients: 20, events: 1000, producerConnections: 20, producerMaxSeconds: 15 }
    : { clients: 100, events: 10_000, producerConnections: 50, producerMaxSeconds: 45 }

const clientsEntry = fileURLToPath(new URL("../sse-clients.ts", import.meta.url))

interface Delivery {
  /** Events the burst produced (fewer than asked if it was stopped at its time limit). */
  readonly sent: number
  readonly total: number
  readonly perSecond: number
  readonly lagP50: number
  readonly lagP99: number
}

const deliver = async (ctx: Context, server: Server, params: SseParams): Promise<Delivery> => {
  const child = fork(clientsEntry, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const reports: Array<SseReport> = []
  let notify: (() => void) | undefined
  child.on("message", (message: SseReport) => {
    reports.push(message)
    notify?.()
  })
  const next = async (type: SseReport["type"], timeoutMs: number): Promise<SseReport> => {
    const deadline = performance.now() + timeoutMs
    while (performance.now() < deadline) {
      const found = reports.find((report) => report.type === type)
      if (found) return found
      await Promise.race([new Promise<void>((resolve) => (notify = resolve)), sleep(250)])
    }
    throw new Error(`${server.kind}: the SSE clients did not report ${type} within ${timeoutMs} ms`)
  }
  child.on("error", (error) => ctx.log(`  ! ${server.kind}: SSE client process: ${error.message}`))
  // The clients may have given up on their own deadline already; then there is no one to tell.
  const tell = (command: SseCommand) => {
    if (child.connected) child.send(command)
  }
  const graceMs = 20_000
  try {
    tell({
      type: "start",
      url: server.url,
      clients: params.clients,
      capacity: params.events + 100,
      deadlineMs: params.producerMaxSeconds * 1000 + graceMs + 30_000
    })
    await next("ready", 30_000)
    await sleep(200)
    const started = Date.now()
    const produced = await postAmount(
      `${server.url}/channels/sse/send`,
      { text: "event", ok: true },
      params.producerConnections,
      params.events,
      params.producerMaxSeconds
    )
    if (produced.stoppedEarly) ctx.log(`  ! ${server.kind}: burst stopped after ${params.producerMaxSeconds} s with ${produced.ok} of ${params.events} events`)
    tell({ type: "expect", count: produced.ok, graceMs })
    const done = (await next("done", graceMs + 30_000)) as SseDone
    const total = done.received.reduce((n, x) => n + x, 0)
    const short = done.received.filter((n) => n < produced.ok).length
    if (short > 0) ctx.log(`  ! ${server.kind}: ${short} of ${params.clients} clients got fewer than ${produced.ok} events`)
    if (done.errors.length > 0) ctx.log(`  ! ${server.kind}: client errors: ${done.errors.join("; ")}`)
    const seconds = (done.lastAt - started) / 1000
    const result = { sent: produced.ok, total, perSecond: total / seconds, lagP50: done.lagP50Ms, lagP99: done.lagP99Ms }
    ctx.log(
      `  ${server.kind}: ${produced.ok} events sent at ${Math.round(produced.perSecond)}/s; ${total} frames delivered in ${seconds.toFixed(2)} s ` +
        `(${Math.round(result.perSecond)}/s), lag p50 ${result.lagP50} ms, p99 ${result.lagP99} ms, max ${done.lagMaxMs} ms`
    )
    return result
  } finally {
    if (child.exitCode === null) {
      child.kill()
      await once(child, "exit")
    }
  }
}

export const sseScenario = async (ctx: Context, params: SseParams = sseParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "sse", async ({ broker, baseline }) => {
    const b = await deliver(ctx, broker, params)
    const base = await deliver(ctx, baseline, params)
    const clients = params.clients.toLocaleString("en-US")
    const events = params.events.toLocaleString("en-US")
    const short = b.sent < params.events ? `; broker took only ${b.sent.toLocaleString("en-US")} in ${params.producerMaxSeconds} s` : ""
    return [
      {
        scenario: `SSE: ${clients} clients, ${events}-event burst${short}, delivered events/s (all clients)`,
        unit: "/s",
        broker: b.perSecond,
        baseline: base.perSecond,
        target: { kind: "min-ratio", value: 0.5 }
      },
      {
        scenario: `SSE: delivered events/s per client`,
        unit: "/s",
        broker: b.perSecond / params.clients,
        baseline: base.perSecond / params.clients,
        target: null
      },
      { scenario: `SSE: lag p50 (receive − event at)`, unit: "ms", broker: b.lagP50, baseline: base.lagP50, target: null },
      { scenario: `SSE: lag p99 (receive − event at)`, unit: "ms", broker: b.lagP99, baseline: base.lagP99, target: { kind: "max", value: 100 } }
    ]
  })
