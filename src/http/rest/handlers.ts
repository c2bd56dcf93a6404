import { Effect } from "effect"
import type { Health } from "../../broker/applier.js"
import type { BrokerService } from "../../broker/Broker.js"
import { BadRequest, type BrokerError } from "../../core/errors.js"
import { isCommandId } from "../../core/names.js"
import { projectSummary, type CommandDetail, type CommandView, type SignalView } from "../../core/views.js"
import { mayActAs, mayConnect } from "../../core/binding.js"
import { boundRoleOf, trustedLoopback, whoAmI } from "../../core/principal.js"
import {
  CancelBody,
  CommandsQuery,
  ConnectBody,
  FireBody,
  MessagesQuery,
  MintBody,
  StatusQuery,
  WaitQuery
} from "../Api.js"
import { decodeInput } from "../../input/problems.js"
import { errorReply, reply, type Reply } from "../respond.js"
import { body, caller, type InputLimits, optionalBody, param, query, type RestRequest, waitMs } from "./request.js"

/**
 * The REST API: each handler takes its inputs from the request, calls the broker, and renders the
 * answer. Keyed by `METHOD /path/:template` as routes.ts lists them. The hot routes (sends, command
 * waits, acks, result waits) are in direct.ts, without a fiber per request.
 */
export type RestHandler = (request: RestRequest) => Effect.Effect<Reply, BrokerError>

const answer = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Reply, E> => Effect.map(effect, (value) => reply(value))

/** Every waiter woken by one firing gets the same answer, so it is rendered once, not per waiter. */
const signalAnswers = new WeakMap<SignalView, Reply>()
const signalAnswer = ({ value, timedOut }: { readonly value: SignalView | null; readonly timedOut: boolean }): Reply => {
  if (timedOut || value === null) return reply({ signal: value, timedOut })
  let rendered = signalAnswers.get(value)
  if (rendered === undefined) signalAnswers.set(value, (rendered = reply({ signal: value, timedOut })))
  return rendered
}

const healthy = reply({ ok: true })

/**
 * 503 while the state is behind the log or has stopped following it: a probe should see that. A
 * node whose view of a shared log lags still serves: 200, saying `degraded` and by how much.
 */
const healthReply = (health: Health): Reply =>
  health.status === "ok"
    ? healthy
    : health.status === "degraded"
      ? reply({ ok: true, status: "degraded", message: health.message, head: health.head, behind: health.behind })
      : errorReply("log_unavailable", health.message, 503)

/**
 * `GET /commands/<id>` is two routes on one path, told apart by the id's prefix: a command id
 * (`cmd-…`, which no peer id may start with) is that command with its attempts and history (`?at=`
 * as it was then); any other id is the seed's list of what that peer may take or holds.
 */
const commandOrPeerCommands = (
  broker: BrokerService,
  request: RestRequest
): Effect.Effect<CommandDetail | { readonly commands: ReadonlyArray<CommandView> }, BrokerError> =>
  Effect.gen(function* () {
    const id = yield* param(request, "id")
    const { at } = yield* query(request, StatusQuery)
    if (isCommandId(id)) return yield* broker.commandDetail(id, at)
    if (at !== undefined) {
      return yield* Effect.fail(new BadRequest({ message: "?at= travels in time for one command (an id starting 'cmd-'), not for a peer's list" }))
    }
    return { commands: yield* broker.commandsFor(id) }
  })

/** `readOnly`: a replayed export, which refuses every write whoever asks (src/http/readOnly.ts). */
export const restHandlers = (broker: BrokerService, limits: InputLimits, readOnly = false): ReadonlyMap<string, RestHandler> => {
  const timeoutOf = (request: RestRequest) =>
    Effect.map(query(request, WaitQuery), ({ timeout }) => waitMs(limits, timeout))

  /** A token bound to a role acts only as peers of that role (src/core/binding.ts). */
  const actingAs = (request: RestRequest, peerId: string | null) =>
    mayActAs(boundRoleOf(request.principal), broker.projection.peers, peerId)
  /** The peer in the path, once the caller may act as it. */
  const peerParam = (request: RestRequest, name: string) =>
    Effect.tap(param(request, name), (peerId) => actingAs(request, peerId))
  /** The caller (X-Peer-Id or ?from=), once it may act as it. */
  const actingCaller = (request: RestRequest) => Effect.tap(caller(request), (peerId) => actingAs(request, peerId))

  const handlers: Record<string, RestHandler> = {
    // Peers
    "GET /peers/discover": () =>
      answer(
        Effect.map(broker.peers, (peers) => {
          const present = peers.filter((peer) => peer.status !== "offline")
          return { peers: present, roles: [...new Set(present.map((peer) => peer.role))].sort() }
        })
      ),
    "POST /peers/connect": (request) =>
      answer(
        Effect.flatMap(
          Effect.tap(body(request, limits, ConnectBody), (connect) =>
            mayConnect(boundRoleOf(request.principal), broker.projection.peers, connect)
          ),
          broker.connect
        )
      ),
    "POST /peers/:id/heartbeat": (request) => answer(Effect.flatMap(peerParam(request, "id"), broker.heartbeat)),
    "POST /peers/:id/disconnect": (request) =>
      answer(Effect.flatMap(peerParam(request, "id"), (id) => broker.disconnect(id))),
    "GET /peers/:id": (request) => answer(Effect.flatMap(param(request, "id"), broker.peer)),
    "GET /peers": () => answer(Effect.map(broker.peers, (peers) => ({ peers }))),

    // Commands
    "GET /commands": (request) =>
      answer(
        Effect.map(Effect.flatMap(query(request, CommandsQuery), broker.commands), (commands) => ({ commands }))
      ),
    "GET /commands/:id": (request) => answer(commandOrPeerCommands(broker, request)),
    "POST /commands/:commandId/cancel": (request) =>
      answer(
        Effect.gen(function* () {
          const commandId = yield* param(request, "commandId")
          const { from } = yield* decodeInput(CancelBody, "body")((yield* optionalBody(request, limits)) ?? {})
          const by = (yield* caller(request)) ?? from ?? null
          yield* actingAs(request, by)
          return yield* broker.cancel(commandId, by)
        })
      ),
    "POST /commands/:commandId/redeliver": (request) =>
      answer(Effect.flatMap(param(request, "commandId"), (commandId) => Effect.flatMap(caller(request), (by) => broker.redeliver(commandId, by)))),
    "POST /commands/:commandId/approve": (request) =>
      answer(Effect.flatMap(param(request, "commandId"), (commandId) => Effect.flatMap(caller(request), (by) => broker.approve(commandId, by)))),
    "POST /commands/:commandId/reject": (request) =>
      answer(Effect.flatMap(param(request, "commandId"), (commandId) => Effect.flatMap(caller(request), (by) => broker.reject(commandId, by)))),

    // Channels
    "GET /channels/:name/messages": (request) =>
      answer(
        Effect.gen(function* () {
          const channel = yield* param(request, "name")
          const { since, limit, timeout } = yield* query(request, MessagesQuery)
          const read = yield* broker.readMessages(channel, { since, limit, timeoutMs: waitMs(limits, timeout) })
          return { channel, ...read }
        })
      ),
    "GET /channels": () => answer(Effect.map(broker.channels, (channels) => ({ channels }))),

    // Signals
    "POST /signals/:name": (request) =>
      answer(
        Effect.gen(function* () {
          const name = yield* param(request, "name")
          const { data } = yield* decodeInput(FireBody, "body")((yield* optionalBody(request, limits)) ?? {})
          return yield* broker.fire(name, data ?? null, yield* actingCaller(request))
        })
      ),
    "GET /signals/:name/wait": (request) =>
      Effect.map(
        Effect.flatMap(param(request, "name"), (name) =>
          Effect.flatMap(timeoutOf(request), (timeout) => broker.waitForSignal(name, timeout))
        ),
        signalAnswer
      ),
    "GET /signals/:name": (request) => answer(Effect.flatMap(param(request, "name"), broker.signal)),
    "DELETE /signals/:name": (request) => answer(Effect.flatMap(param(request, "name"), broker.clearSignal)),
    "GET /signals": () => answer(Effect.map(broker.signals, (signals) => ({ signals }))),

    // System
    "GET /healthz": () => Effect.map(broker.health, healthReply),
    // The guard resolves a principal for every request but an open one, and this route is a read;
    // only a handler called directly (no guard) has none, and is then as trusted as loopback.
    "GET /whoami": (request) => Effect.succeed(reply(whoAmI(request.principal ?? trustedLoopback, readOnly, broker.name))),
    "GET /projects": () =>
      Effect.sync(() => reply({ projects: broker.projects().map((name) => projectSummary(name, broker.project(name).projection)) })),
    "GET /status": (request) =>
      answer(Effect.flatMap(query(request, StatusQuery), ({ at }) => (at === undefined ? broker.status : broker.statusAt(at)))),
    "POST /reset": (request) =>
      answer(
        Effect.gen(function* () {
          yield* broker.reset(yield* actingCaller(request))
          return { ok: true, head: yield* broker.head }
        })
      ),

    // Tokens (the guard lets only the global admin this far)
    "POST /tokens": (request) =>
      Effect.map(Effect.flatMap(body(request, limits, MintBody), broker.mintToken), (minted) => reply(minted, 201)),
    "GET /tokens": () => answer(Effect.map(broker.tokens, (tokens) => ({ tokens }))),
    "DELETE /tokens/:name": (request) => answer(Effect.flatMap(param(request, "name"), broker.revokeToken))
  }
  return new Map(Object.entries(handlers))
}
