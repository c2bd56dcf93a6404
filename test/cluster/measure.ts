/**
 * A rough throughput/latency comparison of the file and JetStream backends, for docs/scaling.md:
 * channel sends over HTTP (each one an append that is durable before the 200), first one at a time,
 * then many in flight. Not a test (vitest does not pick it up); run it with
 *
 *   npx tsx test/cluster/measure.ts [count] [concurrency]
 *
 * against NATS_URL (default nats://127.0.0.1:4222). Each broker is its own process (the bin, as
 * `npm start` runs it); the load comes from this one. On a small shared machine they all compete for
 * the CPU with the NATS server: read the figures as a comparison, not a capacity. The last rows time
 * the logs alone (log.append in this process, no HTTP, no broker), to show what the backend costs.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { makeFileLog } from "../../src/log/file.js"
import { makeJetStreamLog } from "../../src/log/jetstream.js"
import type { EventLogService } from "../../src/log/EventLog.js"
import { spawnBroker } from "../support/process.js"
import { deleteStreams, natsUnavailable, natsUrl, uniqueStream } from "./nats.js"

const count = Number(process.argv[2] ?? 2000)
const concurrency = Number(process.argv[3] ?? 50)

const send = async (url: string, i: number): Promise<number> => {
  const started = performance.now()
  const response = await fetch(`${url}/channels/bench/send`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ i, text: "a message of a typical size for a coordination channel" })
  })
  await response.arrayBuffer()
  if (response.status !== 200) throw new Error(`send ${i}: ${response.status}`)
  return performance.now() - started
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

interface Figures {
  readonly label: string
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
}

const run = async (label: string, urls: ReadonlyArray<string>, inFlight: number): Promise<Figures> => {
  for (let i = 0; i < 50; i++) await send(urls[i % urls.length]!, -i) // warm up
  const latencies: Array<number> = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++
        latencies.push(await send(urls[i % urls.length]!, i))
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  const sorted = latencies.sort((a, b) => a - b)
  return { label, perSecond: count / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

/** Brokers as processes, each with a data dir of its own; all removed afterwards. */
const measure = async (label: string, argsPerNode: ReadonlyArray<ReadonlyArray<string>>, cleanup = async () => {}) => {
  const dirs = await Promise.all(argsPerNode.map(() => mkdtemp(join(tmpdir(), "broker-measure-"))))
  const brokers = await Promise.all(argsPerNode.map((args, i) => spawnBroker([...args, "--data-dir", dirs[i]!], 120_000)))
  try {
    const urls = brokers.map((broker) => broker.url)
    return [await run(`${label}, sequential`, urls, 1), await run(`${label}, ${concurrency} in flight`, urls, concurrency)]
  } finally {
    for (const broker of brokers) await broker.stop()
    await cleanup()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  }
}

/** log.append of one event, `inFlight` at a time, without HTTP or broker. */
const measureLog = (label: string, make: Effect.Effect<EventLogService, unknown, never>, inFlight: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const log = yield* make
        const latencies: Array<number> = []
        const started = performance.now()
        yield* Effect.forEach(
          Array.from({ length: count }, (_, i) => i),
          (i) =>
            Effect.suspend(() => {
              const at = performance.now()
              return log
                .append([{ type: "message.sent", data: { channel: "bench", from: null, message: { i } } }])
                .pipe(Effect.tap(() => Effect.sync(() => latencies.push(performance.now() - at))))
            }),
          { concurrency: inFlight, discard: true }
        )
        const sorted = latencies.sort((a, b) => a - b)
        const seconds = (performance.now() - started) / 1000
        return { label, perSecond: count / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
      })
    ) as Effect.Effect<Figures, unknown, never>
  )

const main = async () => {
  const results: Array<Figures> = []
  results.push(...(await measure("HTTP, file", [["--store", "file"]])))
  if (natsUnavailable !== undefined) {
    console.log(`JetStream skipped: ${natsUnavailable}`)
  } else {
    const one = uniqueStream("MEASURE")
    results.push(
      ...(await measure("HTTP, jetstream, 1 node", [["--store", natsUrl, "--nats-stream", one]], () => deleteStreams(one)))
    )
    const three = uniqueStream("MEASURE")
    const node = ["--store", natsUrl, "--nats-stream", three]
    results.push(
      ...(await measure("HTTP, jetstream, 3 nodes round robin", [node, node, node], () => deleteStreams(three)))
    )
  }
  for (const inFlight of [1, concurrency]) {
    const dir = await mkdtemp(join(tmpdir(), "broker-measure-"))
    results.push(await measureLog(`log.append, file, ${inFlight} in flight`, Effect.orDie(makeFileLog(dir)) as never, inFlight))
    await rm(dir, { recursive: true, force: true })
    if (natsUnavailable === undefined) {
      const stream = uniqueStream("MEASURE")
      results.push(
        await measureLog(
          `log.append, jetstream, ${inFlight} in flight`,
          Effect.orDie(makeJetStreamLog({ servers: natsUrl, stream })) as never,
          inFlight
        )
      )
      await deleteStreams(stream)
    }
  }
  console.log(`${count} channel sends per row (POST /channels/bench/send; 200 = durable)\n`)
  console.log("| backend | appends/s | p50 ms | p99 ms |")
  console.log("|---|---:|---:|---:|")
  for (const r of results) {
    console.log(`| ${r.label} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`)
  }
}

await main()
process.exit(0)
