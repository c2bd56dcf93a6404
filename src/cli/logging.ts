import * as Options from "@effect/cli/Options"
import { Effect, Logger, LogLevel, Option } from "effect"
import { CliIo } from "./io.js"
import { oneOf } from "./options.js"

/**
 * The broker's own log lines (lifecycle at info, one line per request at debug, warnings) go to
 * stderr, readable or as JSON. The announcement on stdout is not a log line and stays as it is.
 */

export const loggingOptions = {
  logFormat: oneOf("log-format", ["text", "json"]).pipe(
    Options.withDescription("log lines on stderr: readable text, or one JSON object per line"),
    Options.withDefault("text" as const)
  ),
  logLevel: oneOf("log-level", ["debug", "info", "warning", "error"]).pipe(
    Options.withDescription("the least severe log lines to print (default info; debug adds one line per request)"),
    Options.optional
  )
}

export interface LoggingArgs {
  readonly logFormat: "text" | "json"
  readonly logLevel: Option.Option<"debug" | "info" | "warning" | "error">
}

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warning: LogLevel.Warning, error: LogLevel.Error }

/** Run `effect` (and every fiber it starts, such as the server's) with the chosen logger. */
export const withLogging =
  (args: LoggingArgs) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | CliIo> =>
    Effect.flatMap(CliIo, (io) => {
      const logger =
        args.logFormat === "json"
          ? Logger.withConsoleError(Logger.jsonLogger)
          : Logger.prettyLogger({ stderr: true, colors: io.errorColor, mode: "tty" })
      const logged = Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
      // Without --log-level, keep whatever level is set (@effect/cli's own `--log-level x` form sets one).
      return Option.match(args.logLevel, {
        onNone: () => logged,
        onSome: (level) => Logger.withMinimumLogLevel(logged, levels[level])
      })
    })
