import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Schedule, Stream } from "effect"
import type { BrokerEvent } from "../core/events.js"
import { Broker } from "../broker/Broker.js"
import { decode, RangeQuery } from "./Api.js"
import { errorResponse } from "./respond.js"

/** Comment frames keep proxies and idle timeouts from closing a quiet stream. */
const keepAliveEvery = "15 seconds"


const frame = (event: BrokerEvent): string => `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/**
 * `GET /events`: the log as Server-Sent Events. Starts after `Last-Event-ID` when the client
 * reconnects, else at `?from=`, else with the next event.
 */
export const eventStream = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const broker = yield* Broker
  const { from } = yield* Effect.flatMap(HttpServerRequest.ParsedSearchParams, decode(RangeQuery, "query"))
  const lastEventId = yield* decode(RangeQuery, "Last-Event-ID header")({ from: request.headers["last-event-id"] })
  const head = yield* broker.head
  const start = lastEventId.from !== undefined ? lastEventId.from + 1 : (from ?? head + 1)
  const frames = (yield* broker.follow(start)).pipe(Stream.map(frame))
  const keepAlive = Stream.fromSchedule(Schedule.spaced(keepAliveEvery)).pipe(Stream.map(() => ": keep-alive\n\n"))
  const body = Stream.make(`retry: 1000\n: following the log from seq ${start}\n\n`).pipe(
    Stream.concat(Stream.merge(frames, keepAlive, { haltStrategy: "left" })),
    Stream.encodeText
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })
}).pipe(Effect.catchAll((error) => Effect.succeed(errorResponse(error))))

/** `GET /log`: the log (or a range of it) as NDJSON, one stored event per line. */
export const ndjsonExport = Effect.gen(function* () {
  const broker = yield* Broker
  const { from, to } = yield* Effect.flatMap(HttpServerRequest.ParsedSearchParams, decode(RangeQuery, "query"))
  const head = yield* broker.head
  const lines = broker.exportLog(from ?? 1, Math.min(to ?? head, head)).pipe(
    Stream.map((event) => `${JSON.stringify(event)}\n`),
    Stream.encodeText
  )
  return HttpServerResponse.stream(lines, {
    contentType: "application/x-ndjson",
    headers: { "content-disposition": 'inline; filename="claude-ipc-broker-log.ndjson"' }
  })
}).pipe(Effect.catchAll((error) => Effect.succeed(errorResponse(error))))
