import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer } from "effect"
import { Broker } from "./broker/Broker.js"
import { EventLog } from "./log/EventLog.js"
import { version } from "./version.js"

/**
 * The broker's lifecycle at info level, through Effect's logger (so `--log-format json` and
 * `--log-level` apply): "broker started" once it listens with its log open, "broker stopping" when
 * shutdown begins, "broker stopped" once the log is closed and the checkpoint written.
 */

/** Built last and released first: around everything else. */
export const startedAndStopping = Layer.scopedDiscard(
  Effect.gen(function* () {
    const address = (yield* HttpServer.HttpServer).address
    const log = yield* EventLog
    const head = yield* (yield* Broker).head
    yield* Effect.logInfo("broker started").pipe(
      Effect.annotateLogs({
        address: address._tag === "TcpAddress" ? `${address.hostname}:${address.port}` : address.path,
        backend: log.backend,
        head,
        version
      })
    )
    yield* Effect.addFinalizer(() => Effect.logInfo("broker stopping"))
  })
)

/** Built first and released last: under everything else. */
export const stopped = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.logInfo("broker stopped")))
