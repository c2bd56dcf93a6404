import { Effect, Either, Option } from "effect"
import type { ClientError } from "./client.js"
import type { BrokerUnreachable } from "./errors.js"
import { CliIo } from "./io.js"

/** One long poll never asks for more than this: the broker clamps longer ones anyway (--max-wait-ms). */
export const longestPollMs = 60_000

/**
 * How long to pause before the `attempt`th try (0 the first) to reach a broker that went away:
 * quickly at first, since a supervised broker is back within a second or two, then every 2 s.
 */
const backoffMs = (attempt: number): number => Math.min(2_000, 100 * 2 ** attempt)

/** A line on stderr about the wait, e.g. `claude-ipc-broker wait-signal: lost the broker …`. */
const note = (command: string, text: string) =>
  Effect.flatMap(CliIo, (io) => Effect.sync(() => io.stderr.write(`claude-ipc-broker ${command}: ${text}\n`)))

/**
 * Long-poll until `poll` has an answer or `timeoutMs` has passed (none: for as long as it takes).
 * Each poll waits up to the time that is left; `Option.none()` from it means "not yet".
 *
 * The first look asks for an answer at once and must reach the broker: a wrong --url or a broker
 * that is not running fails the command straight away (exit 1). After that, a broker that goes away
 * (restarted, the connection reset) is waited out: polls are retried with backoff until it answers
 * again, so `wait-signal x && ./deploy.sh` survives a restart. --timeout still bounds the whole
 * wait; if the broker is still away when it passes, the wait fails as unreachable (exit 1).
 * `command` names the subcommand in the lines it prints on stderr while the broker is away.
 */
export const waitUntil = <A, R>(
  command: string,
  timeoutMs: number | undefined,
  poll: (waitMs: number) => Effect.Effect<Option.Option<A>, ClientError, R>
): Effect.Effect<Option.Option<A>, ClientError, R | CliIo> =>
  Effect.suspend(() => {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs
    const timeUp = () => deadline !== undefined && Date.now() >= deadline
    const timeLeft = () => (deadline === undefined ? longestPollMs : Math.max(0, Math.min(longestPollMs, deadline - Date.now())))
    const awayFor = (error: BrokerUnreachable, attempt: number) =>
      Effect.zipRight(
        attempt === 0 ? note(command, `lost the broker at ${error.url} (${error.reason}); waiting for it to come back…`) : Effect.void,
        Effect.sleep(Math.max(0, Math.min(backoffMs(attempt), deadline === undefined ? Infinity : deadline - Date.now())))
      )
    /**
     * `reached`: the broker answered a poll of this wait; `away`: polls in a row since that could not
     * reach it. While the broker's presence is in doubt (at first, after losing it) a poll only looks,
     * so that we know at once whether it answers, and say so.
     */
    const loop = (reached: boolean, away: number): Effect.Effect<Option.Option<A>, ClientError, R | CliIo> =>
      Effect.flatMap(Effect.either(poll(reached && away === 0 ? timeLeft() : 0)), (result) => {
        if (Either.isLeft(result)) {
          const error = result.left
          return error._tag === "BrokerUnreachable" && reached && !timeUp()
            ? Effect.zipRight(awayFor(error, away), Effect.suspend(() => loop(true, away + 1)))
            : Effect.fail(error)
        }
        const answer = result.right
        const back = away > 0 ? note(command, "the broker is back; still waiting") : Effect.void
        return Effect.zipRight(back, Option.isSome(answer) || timeUp() ? Effect.succeed(answer) : Effect.suspend(() => loop(true, 0)))
      })
    return loop(false, 0)
  })
