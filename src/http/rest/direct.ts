import { Either } from "effect"
import type { BrokerService, Cancel, Done } from "../../broker/Broker.js"
import * as Commands from "../../core/decide/commands.js"
import { mayActAs } from "../../core/binding.js"
import { boundRoleOf } from "../../core/principal.js"
import { BadRequest, type BrokerError } from "../../core/errors.js"
import { decodeInputEither } from "../../input/problems.js"
import { AckBody, SendCommandBody, WaitQuery } from "../Api.js"
import { brokerErrorReply, reply, type Reply } from "../respond.js"
import {
  caller,
  idempotencyKeyOf,
  type InputLimits,
  optionalBodyWith,
  param,
  query,
  requiredBody,
  type RestRequest,
  waitMs
} from "./request.js"

/**
 * The hot REST routes without a fiber per request: a channel send, a command sent, waited for,
 * acked, and its result waited for. Each takes its inputs with the same functions as the other
 * handlers (request.ts: the same checks, the same wording of a refusal), calls the broker's
 * `direct` API (the same deciders, appends and waits as its Effect methods) and hands the rendered
 * answer to `answer`, once. A handler that may outlive its call returns the function that stops it
 * when the client goes away: a body no longer read, a wait no longer parked (and no longer counted).
 * Keyed by `METHOD /path/:template` as routes.ts lists them; transport.ts prefers these to the
 * handlers of handlers.ts.
 */
export type DirectHandler = (request: RestRequest, answer: (reply: Reply) => void) => Cancel | void

/** The broker's outcome rendered: its value as JSON, or its error in the one envelope. */
const rendered =
  <A>(answer: (reply: Reply) => void, render: (value: A) => unknown = (value) => value): Done<A, BrokerError> =>
  (result) =>
    answer(Either.isLeft(result) ? brokerErrorReply(result.left) : reply(render(result.right)))

const decodeAck = decodeInputEither(AckBody, "body")
const decodeSend = requiredBody(SendCommandBody)

/** The send with its idempotency key from the `Idempotency-Key` header or the body (they must agree). */
const withIdempotencyKey =
  (request: RestRequest) =>
  (send: typeof SendCommandBody.Type): Either.Either<typeof SendCommandBody.Type, BadRequest> =>
    request.source.headers["idempotency-key"] === undefined
      ? Either.right(send)
      : Either.map(idempotencyKeyOf(request, send.idempotencyKey), (idempotencyKey) => ({ ...send, idempotencyKey }))

export const directHandlers = (broker: BrokerService, limits: InputLimits): ReadonlyMap<string, DirectHandler> => {
  const timeoutOf = (request: RestRequest) => Either.map(query(request, WaitQuery), ({ timeout }) => waitMs(limits, timeout))

  /** A token bound to a role acts only as peers of that role (src/core/binding.ts), as in handlers.ts. */
  const actingAs = (request: RestRequest, peerId: string | null) =>
    mayActAs(boundRoleOf(request.principal), broker.projection.peers, peerId)

  const handlers: Record<string, DirectHandler> = {
    "POST /commands/send": (request, answer) =>
      optionalBodyWith(request, limits, (body) => {
        const send = Either.flatMap(Either.flatMap(Either.flatMap(body, decodeSend), (decoded) => Either.map(actingAs(request, decoded.from), () => decoded)), withIdempotencyKey(request))
        if (Either.isLeft(send)) return answer(brokerErrorReply(send.left))
        broker.direct.sendCommand(send.right, rendered(answer))
      }),

    "GET /commands/:peerId/wait": (request, answer) => {
      const input = Either.gen(function* () {
        const peerId = yield* param(request, "peerId")
        yield* actingAs(request, peerId)
        const who = yield* caller(request)
        yield* actingAs(request, who)
        yield* Commands.mayWaitFor(who, peerId)
        return { peerId, timeoutMs: yield* timeoutOf(request) }
      })
      if (Either.isLeft(input)) return answer(brokerErrorReply(input.left))
      return broker.direct.waitForCommand(
        input.right.peerId,
        input.right.timeoutMs,
        rendered(answer, ({ value, timedOut }) => (value === null ? { command: null, timedOut } : { command: value, timedOut: false }))
      )
    },

    "POST /commands/:commandId/ack": (request, answer) => {
      const commandId = param(request, "commandId")
      if (Either.isLeft(commandId)) return answer(brokerErrorReply(commandId.left))
      return optionalBodyWith(request, limits, (body) => {
        const input = Either.gen(function* () {
          const { ok, result, from } = yield* decodeAck((yield* body) ?? {})
          const by = (yield* caller(request)) ?? from ?? null
          yield* actingAs(request, by)
          return { ok, result: result ?? null, by }
        })
        if (Either.isLeft(input)) return answer(brokerErrorReply(input.left))
        broker.direct.ack(commandId.right, input.right, rendered(answer))
      })
    },

    "GET /commands/:commandId/result": (request, answer) => {
      const commandId = param(request, "commandId")
      if (Either.isLeft(commandId)) return answer(brokerErrorReply(commandId.left))
      const timeoutMs = timeoutOf(request)
      if (Either.isLeft(timeoutMs)) return answer(brokerErrorReply(timeoutMs.left))
      return broker.direct.waitForResult(commandId.right, timeoutMs.right, rendered(answer, ({ value, timedOut }) => ({ command: value, timedOut })))
    },

    "POST /channels/:name/send": (request, answer) => {
      const channel = param(request, "name")
      if (Either.isLeft(channel)) return answer(brokerErrorReply(channel.left))
      return optionalBodyWith(request, limits, (message) => {
        if (Either.isLeft(message)) return answer(brokerErrorReply(message.left))
        if (message.right === undefined) return answer(brokerErrorReply(new BadRequest({ message: "the message body is required" })))
        const from = Either.flatMap(caller(request), (who) => Either.map(actingAs(request, who), () => who))
        if (Either.isLeft(from)) return answer(brokerErrorReply(from.left))
        // The body is the message itself, so a channel send's idempotency key comes in the header only.
        const key = idempotencyKeyOf(request, undefined)
        if (Either.isLeft(key)) return answer(brokerErrorReply(key.left))
        broker.direct.publish(channel.right, from.right, message.right, rendered(answer), key.right)
      })
    }
  }
  return new Map(Object.entries(handlers))
}
