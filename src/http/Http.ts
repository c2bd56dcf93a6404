import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Effect, Schema } from "effect"
import { BadRequest, Forbidden, type BrokerError } from "../core/errors.js"
import { isName } from "../core/names.js"
import type { SignalView } from "../core/views.js"
import { Broker } from "../broker/Broker.js"
import { BrokerConfig } from "../broker/Config.js"
import {
  AckBody,
  CancelBody,
  CommandsQuery,
  ConnectBody,
  decode,
  FireBody,
  FromQuery,
  MessagesQuery,
  Name,
  SendCommandBody,
  StatusQuery,
  WaitQuery
} from "./Api.js"
import { parseJson, readBody } from "./body.js"
import { errorJson, errorResponse, json } from "./respond.js"
import { eventStream, ndjsonExport } from "./Sse.js"
import { dashboardRoutes } from "./Static.js"
import { opsRoutes } from "./opsRoutes.js"
import { mcpRoutes } from "../mcp/Http.js"

/** The REST API: each handler decodes its input, calls the Broker, and renders the answer. */


/**
 * Run a handler and render its answer (as JSON, unless told otherwise); tagged broker errors become
 * `{"error":{code,message}}` with their status.
 */
const handle = <A, R>(
  effect: Effect.Effect<A, BrokerError, R>,
  render: (answer: A) => HttpServerResponse.HttpServerResponse = json
) =>
  effect.pipe(
    Effect.map(render),
    Effect.catchAll((error) => Effect.succeed(errorResponse(error)))
  )

/**
 * A name from the request. Valid names (nearly all) are checked with the pattern alone; the schema
 * runs only to word the 400 for an invalid one.
 */
const nameFrom = (value: string | undefined, what: string): Effect.Effect<string, BadRequest> =>
  value !== undefined && isName(value) ? Effect.succeed(value) : decode(Name, what)(value)

/** Every waiter woken by one firing gets the same answer, so it is rendered once, not per waiter. */
const signalAnswers = new WeakMap<SignalView, HttpServerResponse.HttpServerResponse>()
const signalAnswer = (signal: SignalView | null, timedOut: boolean): HttpServerResponse.HttpServerResponse => {
  if (timedOut || signal === null) return json({ signal, timedOut })
  let answer = signalAnswers.get(signal)
  if (answer === undefined) signalAnswers.set(signal, (answer = json({ signal, timedOut })))
  return answer
}

const param = (name: string) => Effect.flatMap(HttpRouter.params, (params) => nameFrom(params[name], `path parameter '${name}'`))

/** Most requests carry no query string; its decoded defaults are worked out once per schema. */
const emptyQueries = new WeakMap<object, unknown>()

const query = <A, I>(schema: Schema.Schema<A, I>): Effect.Effect<A, BadRequest, HttpServerRequest.ParsedSearchParams> =>
  Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) => {
    for (const _ in params) return decode(schema, "query")(params)
    if (!emptyQueries.has(schema)) {
      const decoded = Schema.decodeUnknownEither(schema)({})
      if (decoded._tag === "Left") return decode(schema, "query")(params)
      emptyQueries.set(schema, decoded.right)
    }
    return Effect.succeed(emptyQueries.get(schema) as A)
  })

/** The JSON body, or `undefined` when there is none. */
const optionalBody = Effect.flatMap(
  Effect.context<HttpServerRequest.HttpServerRequest | BrokerConfig>(),
  (context) =>
    Effect.flatMap(
      readBody(
        NodeHttpServerRequest.toIncomingMessage(Context.get(context, HttpServerRequest.HttpServerRequest)),
        Context.get(context, BrokerConfig).maxBodyBytes
      ),
      parseJson
    )
)

const body = <A, I>(schema: Schema.Schema<A, I>) =>
  Effect.flatMap(optionalBody, (value) =>
    value === undefined ? Effect.fail(new BadRequest({ message: "a JSON body is required" })) : decode(schema, "body")(value)
  )

/** Long-poll timeouts: the default when absent, clamped to the configured maximum. */
const waitMs = (timeout: number | undefined) =>
  Effect.map(BrokerConfig, (config) => Math.min(timeout ?? config.defaultWaitMs, config.maxWaitMs))

/** The peer a caller says it is: `X-Peer-Id`, else `?from=`, else nobody in particular. */
const caller = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const header = request.headers["x-peer-id"]
  if (header !== undefined) return nameFrom(header, "X-Peer-Id header")
  return Effect.map(query(FromQuery), ({ from }) => from ?? null)
})

const peerRoutes = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/peers/discover",
    handle(
      Effect.map(
        Effect.flatMap(Broker, (broker) => broker.peers),
        (peers) => {
          const present = peers.filter((peer) => peer.status !== "offline")
          return { peers: present, roles: [...new Set(present.map((peer) => peer.role))].sort() }
        }
      )
    )
  ),
  HttpRouter.post(
    "/peers/connect",
    handle(
      Effect.gen(function* () {
        const request = yield* body(ConnectBody)
        return yield* Effect.flatMap(Broker, (broker) => broker.connect(request))
      })
    )
  ),
  HttpRouter.post(
    "/peers/:id/heartbeat",
    handle(Effect.flatMap(param("id"), (id) => Effect.flatMap(Broker, (broker) => broker.heartbeat(id))))
  ),
  HttpRouter.post(
    "/peers/:id/disconnect",
    handle(Effect.flatMap(param("id"), (id) => Effect.flatMap(Broker, (broker) => broker.disconnect(id))))
  ),
  HttpRouter.get("/peers/:id", handle(Effect.flatMap(param("id"), (id) => Effect.flatMap(Broker, (b) => b.peer(id))))),
  HttpRouter.get("/peers", handle(Effect.map(Effect.flatMap(Broker, (broker) => broker.peers), (peers) => ({ peers }))))
)

const commandRoutes = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/commands/send",
    handle(
      Effect.gen(function* () {
        const request = yield* body(SendCommandBody)
        return yield* Effect.flatMap(Broker, (broker) => broker.sendCommand(request))
      })
    )
  ),
  HttpRouter.get(
    "/commands",
    handle(
      Effect.gen(function* () {
        const options = yield* query(CommandsQuery)
        const commands = yield* Effect.flatMap(Broker, (broker) => broker.commands(options))
        return { commands }
      })
    )
  ),
  HttpRouter.get(
    "/commands/:peerId",
    handle(
      Effect.gen(function* () {
        const peerId = yield* param("peerId")
        const commands = yield* Effect.flatMap(Broker, (broker) => broker.commandsFor(peerId))
        return { commands }
      })
    )
  ),
  HttpRouter.get(
    "/commands/:peerId/wait",
    handle(
      Effect.gen(function* () {
        const peerId = yield* param("peerId")
        const me = yield* caller
        if (me !== null && me !== peerId) {
          return yield* Effect.fail(new Forbidden({ message: `'${me}' may not wait for the commands of peer '${peerId}'` }))
        }
        const timeout = yield* Effect.flatMap(query(WaitQuery), ({ timeout }) => waitMs(timeout))
        const { value, timedOut } = yield* Effect.flatMap(Broker, (broker) => broker.waitForCommand(peerId, timeout))
        return value === null ? { command: null, timedOut } : { command: value, timedOut: false }
      })
    )
  ),
  HttpRouter.post(
    "/commands/:commandId/ack",
    handle(
      Effect.gen(function* () {
        const commandId = yield* param("commandId")
        const raw = yield* optionalBody
        const { ok, result, from } = yield* decode(AckBody, "body")(raw ?? {})
        const by = (yield* caller) ?? from ?? null
        return yield* Effect.flatMap(Broker, (broker) => broker.ack(commandId, { ok, result: result ?? null, by }))
      })
    )
  ),
  HttpRouter.post(
    "/commands/:commandId/cancel",
    handle(
      Effect.gen(function* () {
        const commandId = yield* param("commandId")
        const raw = yield* optionalBody
        const { from } = yield* decode(CancelBody, "body")(raw ?? {})
        const by = (yield* caller) ?? from ?? null
        return yield* Effect.flatMap(Broker, (broker) => broker.cancel(commandId, by))
      })
    )
  ),
  HttpRouter.get(
    "/commands/:commandId/result",
    handle(
      Effect.gen(function* () {
        const commandId = yield* param("commandId")
        const timeout = yield* Effect.flatMap(query(WaitQuery), ({ timeout }) => waitMs(timeout))
        const { value, timedOut } = yield* Effect.flatMap(Broker, (broker) => broker.waitForResult(commandId, timeout))
        return { command: value, timedOut }
      })
    )
  )
)

const channelRoutes = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/channels/:name/send",
    handle(
      Effect.gen(function* () {
        const channel = yield* param("name")
        const message = yield* optionalBody
        if (message === undefined) return yield* Effect.fail(new BadRequest({ message: "the message body is required" }))
        const from = yield* caller
        return yield* Effect.flatMap(Broker, (broker) => broker.publish(channel, from, message))
      })
    )
  ),
  HttpRouter.get(
    "/channels/:name/messages",
    handle(
      Effect.gen(function* () {
        const channel = yield* param("name")
        const { since, limit, timeout } = yield* query(MessagesQuery)
        const timeoutMs = yield* waitMs(timeout)
        const read = yield* Effect.flatMap(Broker, (broker) =>
          broker.readMessages(channel, { since, limit, timeoutMs })
        )
        return { channel, ...read }
      })
    )
  ),
  HttpRouter.get(
    "/channels",
    handle(Effect.map(Effect.flatMap(Broker, (broker) => broker.channels), (channels) => ({ channels })))
  )
)

const signalRoutes = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/signals/:name",
    handle(
      Effect.gen(function* () {
        const name = yield* param("name")
        const raw = yield* optionalBody
        const { data } = yield* decode(FireBody, "body")(raw ?? {})
        const by = yield* caller
        return yield* Effect.flatMap(Broker, (broker) => broker.fire(name, data ?? null, by))
      })
    )
  ),
  HttpRouter.get(
    "/signals/:name/wait",
    handle(
      Effect.gen(function* () {
        const name = yield* param("name")
        const timeout = yield* Effect.flatMap(query(WaitQuery), ({ timeout }) => waitMs(timeout))
        return yield* Effect.flatMap(Broker, (broker) => broker.waitForSignal(name, timeout))
      }),
      ({ value, timedOut }) => signalAnswer(value, timedOut)
    )
  ),
  HttpRouter.get("/signals/:name", handle(Effect.flatMap(param("name"), (name) => Effect.flatMap(Broker, (b) => b.signal(name))))),
  HttpRouter.del(
    "/signals/:name",
    handle(Effect.flatMap(param("name"), (name) => Effect.flatMap(Broker, (broker) => broker.clearSignal(name))))
  ),
  HttpRouter.get(
    "/signals",
    handle(Effect.map(Effect.flatMap(Broker, (broker) => broker.signals), (signals) => ({ signals })))
  )
)

const systemRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", Effect.succeed(json({ ok: true }))),
  HttpRouter.get(
    "/status",
    handle(
      Effect.gen(function* () {
        const { at } = yield* query(StatusQuery)
        const broker = yield* Broker
        return yield* at === undefined ? broker.status : broker.statusAt(at)
      })
    )
  ),
  HttpRouter.post(
    "/reset",
    handle(
      Effect.gen(function* () {
        const by = yield* caller
        const broker = yield* Broker
        yield* broker.reset(by)
        return { ok: true, head: yield* broker.head }
      })
    )
  ),
  HttpRouter.get("/events", eventStream),
  HttpRouter.get("/log", ndjsonExport)
)


export const router = HttpRouter.empty.pipe(
  HttpRouter.concat(peerRoutes),
  HttpRouter.concat(commandRoutes),
  HttpRouter.concat(channelRoutes),
  HttpRouter.concat(signalRoutes),
  HttpRouter.concat(systemRoutes),
  HttpRouter.concat(opsRoutes),
  HttpRouter.concat(mcpRoutes),
  HttpRouter.concat(dashboardRoutes)
)

/** The whole HTTP app: unknown routes are JSON 404s, and a bug is a JSON 500, never a dropped socket. */
export const httpApp = router.pipe(
  Effect.catchTag("RouteNotFound", (error) => Effect.succeed(errorJson("not_found", `no route for ${error.request.method} ${error.request.url}`, 404))),
  Effect.catchAllDefect((defect) =>
    Effect.as(
      Effect.logError("request failed", defect),
      errorJson("internal", "the broker hit an internal error; see its log", 500)
    )
  )
)
