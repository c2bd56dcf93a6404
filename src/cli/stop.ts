import { Effect } from "effect"
import { CliIo } from "./io.js"

/**
 * For commands that run until the user stops them (serve, replay, tail, read --follow): a stop
 * (SIGINT, SIGTERM) ends them as a success, after their finalizers ran. Other commands are merely
 * interrupted by a stop, which the tool reports with exit code 130.
 */
export const untilStopped = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, E, R | CliIo> =>
  Effect.flatMap(CliIo, (io) => Effect.raceFirst(Effect.asVoid(effect), io.stopped))
