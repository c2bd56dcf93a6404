/**
 * The JetStream rows: the broker on the JetStream backend against what JetStream itself offers in
 * the same run. The baseline is a bare Node client (bench/jetstreamBaseline.ts) publishing event
 * bodies of the broker's own size, 100 in flight, while an ordered consumer reads them back; the
 * broker serves durable channel sends from 100 connections, each 2xx an event JetStream acknowledged
 * and this node applied. Then the command round trip on the same broker. Every stream is fresh and
 * deleted afterwards. Without a reachable NATS server the rows say "skipped (no NATS)", which is no
 * failure.
 */
import type { Row } from "../report.js"
import { json, keepAliveAgent, postLoad, type Throughput } from "../load.js"
import { startBroker, type Server } from "../servers.js"
import { bareJetStream, benchStream, deleteStreams, lastBody, natsMissing, natsUrl, type BareResult } from "../jetstreamBaseline.js"
import { type Context, newDataDir, removeDir } from "./context.js"
import { roundTrips, type RoundTripParams } from "./roundtrip.js"

export interface JetStreamParams {
  readonly connections: number
  readonly seconds: number
  /** Measured runs per side, alternating broker and baseline. */
  readonly rounds: number
  readonly warmupSeconds: number
  readonly roundTrip: RoundTripParams
}

export const jetStreamParams = (quick: boolean): JetStreamParams =>
  quick
    ? { connections: 100, seconds: 2, rounds: 1, warmupSeconds: 1, roundTrip: { iterations: 50, idleWaiters: 0, maxSeconds: 20 } }
    : { connections: 100, seconds: 5, rounds: 2, warmupSeconds: 2, roundTrip: { iterations: 500, idleWaiters: 0, maxSeconds: 60 } }

const body = { text: "build 4711 passed on main", ok: true, n: 1 }

const sendLabel = (connections: number) => `jetstream: channel send, ${connections} connections (durable appends/s vs bare JetStream msgs/s)`
const roundTripLabel = "jetstream: command round trip p99, 1 waiter"

/** What the rows say when there is no NATS server to measure: no figure, no target, no failure. */
const skippedRows = (params: JetStreamParams): Array<Row> => [
  { scenario: `${sendLabel(params.connections)}: skipped (no NATS)`, unit: "/s", broker: NaN, baseline: null, target: null },
  { scenario: `${roundTripLabel}: skipped (no NATS)`, unit: "ms", broker: NaN, baseline: null, target: null }
]

const headOf = async (server: Server) =>
  (await json<{ log: { head: number; backend: string } }>(keepAliveAgent(1), "GET", `${server.url}/status`)).log

export const jetStreamScenario = async (
  ctx: Context,
  params: JetStreamParams = jetStreamParams(ctx.quick),
  nats = natsUrl
): Promise<Array<Row>> => {
  const missing = await natsMissing(nats)
  if (missing !== undefined) {
    ctx.log(`  skipped: ${missing}`)
    return skippedRows(params)
  }
  const stream = benchStream("broker")
  const dataDir = await newDataDir(ctx, "jetstream")
  const broker = await startBroker({
    dataDir,
    nodeFlags: ctx.nodeFlags("jetstream"),
    brokerFlags: ["--store", nats, "--nats-stream", stream]
  })
  try {
    const sendUrl = `${broker.url}/channels/bench/send`
    const status = await headOf(broker)
    if (status.backend !== "jetstream") throw new Error(`the broker runs on ${status.backend}, not jetstream`)
    await postLoad(sendUrl, body, params.connections, params.warmupSeconds)
    // The bytes the broker stores for one send: the baseline publishes bodies of exactly this size.
    const stored = await lastBody(stream, nats)
    ctx.log(`  event body: ${Buffer.byteLength(stored)} bytes`)
    await bareJetStream(stored, { inFlight: params.connections, seconds: params.warmupSeconds, url: nats })

    const runs: Array<Throughput> = []
    const bare: Array<BareResult> = []
    for (let round = 0; round < params.rounds; round++) {
      const before = (await headOf(broker)).head
      const run = await postLoad(sendUrl, body, params.connections, params.seconds)
      const appended = (await headOf(broker)).head - before
      if (appended < run.ok) ctx.log(`  ! broker answered ${run.ok} sends with 2xx but its view of the stream grew by ${appended}`)
      if (run.failed > 0) ctx.log(`  ! broker: ${run.failed} failed sends`)
      ctx.log(`  broker ${params.connections} conns: ${Math.round(run.perSecond)}/s (p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms)`)
      runs.push(run)
      const baseline = await bareJetStream(stored, { inFlight: params.connections, seconds: params.seconds, url: nats })
      ctx.log(
        `  bare JetStream, ${params.connections} in flight: ${Math.round(baseline.perSecond)}/s published and read back ` +
          `(${Math.round(baseline.publishedPerSecond)}/s publishing)`
      )
      bare.push(baseline)
    }
    const brokerRate = runs.reduce((n, run) => n + run.ok, 0) / runs.reduce((n, run) => n + run.seconds, 0)
    const bareRate = bare.reduce((n, run) => n + run.count, 0) / bare.reduce((n, run) => n + run.seconds, 0)

    const trips = await roundTrips(ctx, broker, params.roundTrip, "jetstream")
    return [
      {
        scenario: sendLabel(params.connections),
        unit: "/s",
        broker: brokerRate,
        baseline: bareRate,
        baselineIs: "bare JetStream",
        target: { kind: "min-ratio", value: 0.5 }
      },
      { scenario: roundTripLabel, unit: "ms", broker: trips.p99, baseline: null, target: { kind: "max", value: 10 } }
    ]
  } finally {
    await broker.stop()
    await deleteStreams([stream], nats)
    await removeDir(ctx, dataDir)
  }
}
