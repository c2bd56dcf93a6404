import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer } from "effect"
import { setFlagsFromString } from "node:v8"
import { Broker } from "./broker/Broker.js"
import { EventLog } from "./log/EventLog.js"
import { version } from "./version.js"

/**
 * The broker's lifecycle at info level, through Effect's logger (so `--log-format json` and
 * `--log-level` apply): "broker started" once it listens with its log open, "broker stopping" when
 * shutdown begins, "broker stopped" once the log is closed and the checkpoint written.
 */

/**
 * While the broker starts, V8 grows the heap by at most a fifth past what its last full collection
 * kept; once it serves, by its own rules again (0 = V8's default). Replaying a long log makes
 * hundreds of megabytes of short-lived state, and under the default growth (up to four times what
 * survived) 50+ MB of that garbage stayed resident for good; serving under the cap cost a fifth of
 * the send throughput (docs/benchmarks.md).
 */
const heapGrowingPercent = (percent: number) => setFlagsFromString(`--heap-growing-percent=${percent}`)

/** Built first, before the log is read. */
export const startingUp = Layer.effectDiscard(Effect.sync(() => heapGrowingPercent(20)))

/** Built last and released first: around everything else. */
export const startedAndStopping = Layer.scopedDiscard(
  Effect.gen(function* () {
    heapGrowingPercent(0)
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
