import { Either } from "effect"
import { expect } from "vitest"
import type { Decision, DecisionState } from "../../src/core/decide/decision.js"
import type { BrokerError } from "../../src/core/errors.js"
import type { EventDraft } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { fullView, store, type Step } from "./given.js"

/**
 * Given/when/then specifications of a decider, after Emmett's `DeciderSpecification`:
 *
 *   const spec = decider(Commands.decide)
 *   spec.given(connected("p1"), sent("c1", "worker"), delivered("c1", "p1"), acked("c1"))
 *     .when({ type: "Ack", commandId: "c1", ok: true, result: 2, by: null })
 *     .thenFails(Conflict, "command 'c1' is already acked; it cannot be acked")
 *
 * The "given" drafts are stored as the log would (given.ts's `store`) and replayed into a fresh
 * projection; the "when" is a request decided on that state; the "then" is the events it decides,
 * or the error that refuses it. Every specification also checks that deciding changed nothing.
 */

/** The state the "given" steps leave: the projection after replaying them. */
export const stateAfter = (...steps: ReadonlyArray<Step>): Projection => Projection.replay(store(steps))

type ErrorClass = abstract new (...args: never) => BrokerError

export interface DecisionSpecification {
  /** The request is accepted with exactly these events, in this order. */
  readonly then: (...expected: ReadonlyArray<EventDraft>) => void
  /** The request is accepted and records nothing. */
  readonly thenNothing: () => void
  /** The request is refused with this error (its code and status with it) and, if given, this exact message. */
  readonly thenFails: (error: ErrorClass, message?: string) => BrokerError
}

export const decider = <C>(decide: (command: C, state: DecisionState) => Decision<BrokerError>) => ({
  given: (...steps: ReadonlyArray<Step>) => ({
    when: (command: C): DecisionSpecification => {
      const run = (): Decision<BrokerError> => {
        const state = stateAfter(...steps)
        const before = fullView(state)
        const decision = decide(command, state)
        expect(fullView(state), "deciding must not change the state").toEqual(before)
        return decision
      }
      const accepted = (): ReadonlyArray<EventDraft> => {
        const decision = run()
        if (Either.isLeft(decision)) expect.fail(`expected events, got ${decision.left._tag}: ${decision.left.message}`)
        return decision.right
      }
      return {
        then: (...expected) => expect(accepted()).toEqual(expected),
        thenNothing: () => expect(accepted()).toEqual([]),
        thenFails: (error, message) => {
          const decision = run()
          if (Either.isRight(decision)) expect.fail(`expected ${error.name}, got events ${JSON.stringify(decision.right)}`)
          const refused = decision.left
          expect(refused).toBeInstanceOf(error)
          if (message !== undefined) expect(refused.message).toBe(message)
          return refused
        }
      }
    }
  })
})
