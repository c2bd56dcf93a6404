import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, Fiber, Runtime, Stream } from "effect"
import { Readable } from "node:stream"
import type { BrokerEvent } from "../core/events.js"
import { requestBroker } from "./projectBroker.js"
import { BrokerConfig } from "../broker/Config.js"
import { decodeInput } from "../input/problems.js"
import { LastEventId, RangeQuery } from "./Api.js"
import { errorResponse } from "./respond.js"

/** Comment frames keep proxies and idle timeouts from closing a quiet stream. */
const keepAliveEveryMs = 15_000
const keepAlive = Buffer.from(": keep-alive\n\n")

const frame = (event: BrokerEvent): string => `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/**
 * The frames of a batch, serialised once however many streams it goes to: every stream that gets a
 * live batch gets the same array, so the bytes are cached on it.
 */
const framesCache = new WeakMap<ReadonlyArray<BrokerEvent>, Buffer>()
const framesOf = (batch: ReadonlyArray<BrokerEvent>): Buffer => {
  let bytes = framesCache.get(batch)
  if (bytes === undefined) {
    let text = ""
    for (const event of batch) text += frame(event)
    framesCache.set(batch, (bytes = Buffer.from(text, "utf8")))
  }
  return bytes
}

/**
 * `GET /events`: the log as Server-Sent Events. Starts after `Last-Event-ID` when the client
 * reconnects, else at `?from=`, else with the next event.
 *
 * Each batch the log makes durable is written to each stream as one chunk, straight from the log's
 * commit: no per-event, per-stream machinery. What a client has not read yet waits in its stream's
 * buffer, up to `maxStreamBufferBytes`; a client further behind than that is disconnected (it can
 * resume with Last-Event-ID). A client catching up from far back is fed stored pages as it reads.
 */
export const eventStream = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const broker = yield* requestBroker
  const { maxStreamBufferBytes } = yield* BrokerConfig
  const { from } = yield* Effect.flatMap(HttpServerRequest.ParsedSearchParams, decodeInput(RangeQuery, "query"))
  const lastEventId = yield* decodeInput(LastEventId, "Last-Event-ID header")(request.headers["last-event-id"])
  const head = yield* broker.head
  const start = lastEventId !== undefined ? lastEventId + 1 : (from ?? head + 1)
  const { leave } = yield* broker.openStream
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())

  let drained: (() => void) | undefined
  const body = new Readable({
    // The response took what was buffered and asks for more: a paced catch-up may read on.
    read: () => {
      drained?.()
      drained = undefined
    }
  })
  const write = (bytes: Buffer) => {
    if (body.destroyed) return
    body.push(bytes)
    if (body.readableLength > maxStreamBufferBytes) body.destroy()
  }
  const paced = Effect.async<void>((resume) => {
    if (body.readableLength < body.readableHighWaterMark || body.destroyed) return resume(Effect.void)
    drained = () => resume(Effect.void)
  })
  write(Buffer.from(`retry: 1000\n: following the log from seq ${start}\n\n`))
  const timer = setInterval(() => write(keepAlive), keepAliveEveryMs)
  let stop: (() => void) | undefined
  const following = runFork(
    broker.follow(start, (batch) => write(framesOf(batch)), paced).pipe(
      Effect.tap((stopFollowing) => Effect.sync(() => (stop = stopFollowing))),
      Effect.tapErrorCause((cause) => Effect.sync(() => body.destroy(new Error(`event stream failed: ${cause}`))))
    )
  )
  body.once("close", () => {
    clearInterval(timer)
    stop?.()
    leave()
    runFork(Fiber.interrupt(following))
  })
  return HttpServerResponse.raw(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })
}).pipe(Effect.catchAll((error) => Effect.succeed(errorResponse(error))))

/** `GET /log`: the log (or a range of it) as NDJSON, one stored event per line. */
export const ndjsonExport = Effect.gen(function* () {
  const broker = yield* requestBroker
  const { from, to } = yield* Effect.flatMap(HttpServerRequest.ParsedSearchParams, decodeInput(RangeQuery, "query"))
  const head = yield* broker.head
  const first = Math.max(1, from ?? 1)
  const last = Math.min(to ?? head, head)
  // Read the start before answering: a log that cannot be read (a shared log in a failover) answers
  // 503 with the reason, never a 200 with an empty body that looks like an empty log.
  if (first <= last) yield* Stream.runHead(Stream.take(broker.exportLog(first, last), 1))
  const request = yield* HttpServerRequest.HttpServerRequest
  const lines = broker.exportLog(first, last).pipe(
    Stream.map((event) => `${JSON.stringify(event)}\n`),
    Stream.encodeText,
    // A read that fails once the 200 is out: abort the connection, so that the client sees a broken
    // transfer instead of a shorter log that ends cleanly.
    Stream.tapErrorCause(() => Effect.sync(() => NodeHttpServerRequest.toServerResponse(request).destroy()))
  )
  return HttpServerResponse.stream(lines, {
    contentType: "application/x-ndjson",
    headers: { "content-disposition": 'inline; filename="claude-ipc-broker-log.ndjson"' }
  })
}).pipe(Effect.catchAll((error) => Effect.succeed(errorResponse(error))))
