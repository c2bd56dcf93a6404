import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer, type Server } from "node:http"
import { BrokerLive } from "./broker/Broker.js"
import { CheckpointsLive } from "./broker/Checkpoints.js"
import { CheckpointStore } from "./broker/CheckpointStore.js"
import { BrokerConfig, type BrokerConfigShape } from "./broker/Config.js"
import { SweeperLive } from "./broker/Sweeper.js"
import { httpApp } from "./http/Http.js"
import { FileLogLive } from "./log/file.js"
import { MemoryLogLive } from "./log/memory.js"

export interface ServerOptions {
  readonly port: number
  readonly host: string
  /** The file log's directory; ignored with `memory`. */
  readonly dataDir: string
  readonly memory: boolean
  readonly config?: Partial<BrokerConfigShape>
}

/** The log and where its checkpoints go, for the chosen backend. */
const storageLayer = (options: Pick<ServerOptions, "dataDir" | "memory">) =>
  options.memory
    ? Layer.merge(MemoryLogLive, CheckpointStore.none)
    : Layer.merge(FileLogLive(options.dataDir), CheckpointStore.file(options.dataDir))

/** The broker without transports: log → checkpoints → broker → sweeper. */
export const brokerLayer = (options: Omit<ServerOptions, "port" | "host">) => {
  const base = Layer.merge(storageLayer(options), BrokerConfig.layer(options.config))
  const broker = BrokerLive.pipe(Layer.provide(CheckpointsLive), Layer.provideMerge(base))
  return Layer.merge(SweeperLive.pipe(Layer.provide(broker)), broker)
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

/** The whole broker on an HTTP port. */
export const serverLayer = (options: ServerOptions) => {
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 })
  return HttpServer.serve(httpApp).pipe(
    Layer.provideMerge(closeConnectionsOnShutdown(server)),
    Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port, host: options.host })),
    Layer.provideMerge(brokerLayer(options))
  )
}
