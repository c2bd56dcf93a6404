import { Effect, Option } from "effect"

/** One long poll never asks for more than this: the broker clamps longer ones anyway (--max-wait-ms). */
export const longestPollMs = 60_000

/**
 * Long-poll until `poll` has an answer or `timeoutMs` has passed (none: for as long as it takes).
 * Each poll waits up to the time that is left; `Option.none()` from it means "not yet".
 */
export const waitUntil = <A, E, R>(
  timeoutMs: number | undefined,
  poll: (waitMs: number) => Effect.Effect<Option.Option<A>, E, R>
): Effect.Effect<Option.Option<A>, E, R> =>
  Effect.suspend(() => {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs
    const loop = (): Effect.Effect<Option.Option<A>, E, R> => {
      const left = deadline === undefined ? longestPollMs : Math.max(0, Math.min(longestPollMs, deadline - Date.now()))
      return Effect.flatMap(poll(left), (answer) =>
        Option.isSome(answer) || (deadline !== undefined && Date.now() >= deadline) ? Effect.succeed(answer) : loop()
      )
    }
    return loop()
  })
