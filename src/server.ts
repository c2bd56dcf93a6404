import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { createServer, type Server } from "node:http"
import { join } from "node:path"
import { Broker, BrokerLive } from "./broker/Broker.js"
import { CheckpointsLive } from "./broker/Checkpoints.js"
import { CheckpointStore } from "./broker/CheckpointStore.js"
import { BrokerConfig, type BrokerConfigShape } from "./broker/Config.js"
import { Metrics } from "./broker/metrics/Metrics.js"
import { SweeperLive } from "./broker/Sweeper.js"
import { isLoopback } from "./http/guard.js"
import { platformApp, router } from "./http/Http.js"
import { startedAndStopping, startingUp, stopped } from "./lifecycle.js"
import { requestListener } from "./http/transport.js"
import { FileLogLive, type FileLogOptions } from "./log/file.js"
import type { JetStreamLogOptions } from "./log/jetstream.js"
import { defaultStreamName } from "./log/jetstreamNames.js"
import { memoryLogLayer, type MemoryLogOptions } from "./log/memory.js"
import { ReplayLogLive, type ReplaySource } from "./log/replay.js"
import { McpConfig, type McpConfigShape } from "./mcp/Config.js"
import { mcpRoutes } from "./mcp/Http.js"
import { McpSessionsLive } from "./mcp/Sessions.js"

export interface ServerOptions {
  readonly port: number
  readonly host: string
  /** Bearer token required on every request but /healthz; required when `host` is not loopback. */
  readonly token?: string | undefined
  /** Browser origins allowed besides the broker's own. */
  readonly allowedOrigins?: ReadonlyArray<string>
  /** The file log's directory; with `nats`, where this node keeps its checkpoints; ignored with `memory`. */
  readonly dataDir: string
  readonly memory: boolean
  /** Run on a NATS JetStream stream shared with other broker nodes instead of the file log. */
  readonly nats?: JetStreamLogOptions | undefined
  readonly config?: Partial<BrokerConfigShape>
  /** Options of the file log (tests use its fault hooks); ignored with `memory`. */
  readonly fileLog?: FileLogOptions
  /** Options of the memory log (tests use its fault hooks); only with `memory`. */
  readonly memoryLog?: Omit<MemoryLogOptions, "listenerFailed">
  /** Tunables of the MCP endpoints (wait bounds, progress interval, idle sessions). */
  readonly mcp?: Partial<McpConfigShape>
  /** Serve this exported log read-only instead (`claude-ipc-broker replay`): no sweeper, writes refused. */
  readonly replay?: ReplaySource | undefined
  /**
   * What to do once the broker's state has stopped following its log for good (see
   * `BrokerService.broken`). By default the process exits with `brokenExitCode` for its supervisor
   * to restart it; tests that run the broker in their own process pass something else.
   */
  readonly onBroken?: (reason: string) => Effect.Effect<void>
}

/**
 * The exit code of a broker whose state stopped following its log (EX_SOFTWARE). The restart replays
 * the log, which is whole: the state is rebuilt from it, and the writes refused meanwhile are retried.
 */
export const brokenExitCode = 70

/**
 * Exit at once rather than shut down in order: the orderly way ends with exit code 0, which tells a
 * supervisor (systemd's Restart=on-failure) that all is well. What an exit skips is only speed (the
 * offset index); everything acknowledged is in the log, as after a crash.
 */
const exitForSupervisor = (reason: string) =>
  Effect.gen(function* () {
    yield* Effect.logError(`exiting with code ${brokenExitCode} for a supervisor to restart the broker`).pipe(
      Effect.annotateLogs({ reason })
    )
    // A moment for the writes failed just now to get their 503 onto the wire.
    yield* Effect.sleep("200 millis")
    process.exit(brokenExitCode)
  })

const whenBroken = (onBroken: (reason: string) => Effect.Effect<void>) =>
  Layer.scopedDiscard(Effect.forkScoped(Effect.flatMap(Effect.flatMap(Broker, (broker) => broker.broken), onBroken)))

/** The log and where its checkpoints go, for the chosen backend. */
const storageLayer = (options: Pick<ServerOptions, "dataDir" | "memory" | "nats" | "fileLog" | "memoryLog" | "replay">) => {
  if (options.replay) return Layer.merge(ReplayLogLive(options.replay), CheckpointStore.none)
  if (options.memory) return Layer.merge(memoryLogLayer(options.memoryLog), CheckpointStore.none)
  if (options.nats) {
    // Checkpoints stay on the node (per stream): they are only a start-up optimisation.
    return Layer.merge(
      jetStreamLogLayer(options.nats),
      CheckpointStore.file(join(options.dataDir, "jetstream", options.nats.stream ?? defaultStreamName))
    )
  }
  return Layer.merge(fileLogLayer(options.dataDir, options.fileLog), CheckpointStore.file(options.dataDir))
}

/** Imported only when chosen, so a broker on the file log does not load the NATS client. */
const jetStreamLogLayer = (nats: JetStreamLogOptions) =>
  Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./log/jetstream.js")), ({ JetStreamLogLive }) => JetStreamLogLive(nats)))

/** The file log, timing its fsyncs for the metrics. */
const fileLogLayer = (dataDir: string, fileLog: FileLogOptions | undefined) =>
  Layer.unwrapEffect(
    Effect.map(Metrics, (metrics) => {
      const fsync = metrics.fsyncSeconds.with()
      return FileLogLive(dataDir, { ...fileLog, onSync: (seconds) => fsync.observe(seconds) })
    })
  )

/** The broker without transports: log → checkpoints → broker → sweeper. */
export const brokerLayer = (options: Omit<ServerOptions, "port" | "host">) => {
  const base = Layer.merge(storageLayer(options), BrokerConfig.layer(options.config)).pipe(
    Layer.provideMerge(Metrics.layer)
  )
  const broker = BrokerLive.pipe(Layer.provide(CheckpointsLive), Layer.provideMerge(base))
  // A replay is evidence: the sweeper's decisions (stale peers, lapsed leases) would rewrite it.
  return options.replay ? broker : Layer.merge(SweeperLive.pipe(Layer.provide(broker)), broker)
}

/**
 * Long-polls and SSE streams would hold `server.close()` open until they end; on shutdown we close
 * their connections, which interrupts the handlers waiting on them.
 */
const closeConnectionsOnShutdown = (server: Server) =>
  Layer.scopedDiscard(
    Effect.addFinalizer(() =>
      Effect.sync(() => {
        server.closeIdleConnections()
        server.closeAllConnections()
      })
    )
  )

/**
 * What the platform's router serves on the broker's port: the HTTP transport's own routes (streams,
 * metrics, the dashboard) and MCP's. Joined here, so neither transport imports the other.
 */
export const httpApp = platformApp(HttpRouter.concat(router, mcpRoutes))

/** The whole broker on an HTTP port. */
export const serverLayer = (options: ServerOptions) => {
  // A client gets 10 s to send its headers and 30 s for its whole request (a slow-loris cannot hold
  // a socket for ever); answering may take as long as a long-poll or an event stream lasts.
  const server = createServer({
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    connectionsCheckingInterval: 2_000,
    keepAliveTimeout: 65_000
  })
  if (options.token === undefined && !isLoopback(options.host)) {
    throw new Error(`binding to ${options.host} needs a token: anyone who can reach it could give orders`)
  }
  const serve = Layer.scopedDiscard(
    Effect.gen(function* () {
      const listener = yield* requestListener(httpApp, {
        guard: { token: options.token, allowedOrigins: options.allowedOrigins ?? [] },
        readOnly: options.replay !== undefined
      })
      server.on("request", listener)
      yield* Effect.addFinalizer(() => Effect.sync(() => server.off("request", listener)))
    })
  )
  return startedAndStopping.pipe(
    Layer.provideMerge(whenBroken(options.onBroken ?? exitForSupervisor)),
    // No spans: nothing here exports traces, and the platform's tracer middleware builds one per
    // request (URL, headers, attributes) — a quarter of the cost of a small request.
    Layer.provideMerge(HttpMiddleware.withTracerDisabledWhen(serve, () => true)),
    // Built after the server listens, so its finalizer ends MCP sessions before connections close.
    Layer.provideMerge(McpSessionsLive.pipe(Layer.provide(McpConfig.layer(options.mcp)))),
    Layer.provideMerge(closeConnectionsOnShutdown(server)),
    Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port, host: options.host })),
    Layer.provideMerge(brokerLayer(options)),
    Layer.provideMerge(stopped),
    Layer.provideMerge(startingUp)
  )
}
