import { Either } from "effect"
import { Conflict, type BrokerError } from "../errors.js"
import type { EventDraft } from "../events.js"
import type { ProjectState } from "../projectView.js"

/**
 * What a decider answers: the events that follow from a request, in the order they are to be
 * appended (none when the request changes nothing), or the error that refuses it. An Either, so a
 * caller in Effect can `yield*` it or `flatMap` over it, and a specification can look at it plainly.
 */
export type Decision<E extends BrokerError = never> = Either.Either<ReadonlyArray<EventDraft>, E>

/** The part of the projection the deciders read: the entities, and the pending queues. */
export type DecisionState = Pick<
  ProjectState,
  "peers" | "commands" | "channels" | "signals" | "tokens" | "pendingOf" | "heldBy" | "idempotentOriginal" | "sendsInLastMinute"
>

export const decided = (...drafts: ReadonlyArray<EventDraft>): Decision => Either.right(drafts)

/** The request is accepted and changes nothing (disconnecting an offline peer, clearing an unfired signal). */
export const unchanged: Decision = Either.right([])

/** A request of an entity, tagged as Emmett's commands are. */
export interface Tagged {
  readonly type: string
}

/**
 * Per command type, the function that decides it. `deciderOf(table)` is the entity's one
 * `decide(command, state)`, typed per command: deciding an Ack can fail only as an Ack can.
 */
export type DeciderTable<C extends Tagged> = {
  readonly [K in C["type"]]: (command: Extract<C, { readonly type: K }>, state: DecisionState) => Decision<BrokerError>
}

export const deciderOf =
  <C extends Tagged>() =>
  <T extends DeciderTable<C>>(table: T) =>
  <X extends C>(command: X, state: DecisionState): ReturnType<T[X["type"]]> =>
    (table[command.type as X["type"]] as unknown as (command: X, state: DecisionState) => ReturnType<T[X["type"]]>)(command, state)

/**
 * What a request just appended, as the state shows it once applied. A reset appended by another
 * request in between clears it (and so can a retention trim a message, with an age limit shorter
 * than the append took): the write is in the log, but there is nothing left to show.
 */
export const recorded = <A>(value: A | undefined, what: string, clearedBy = "a reset"): Either.Either<A, Conflict> =>
  value === undefined
    ? Either.left(new Conflict({ message: `${what} was recorded, but ${clearedBy} that landed right after it cleared it` }))
    : Either.right(value)
