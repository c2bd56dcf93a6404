import { HttpServer } from "@effect/platform"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Broker, type BrokerService } from "../../src/broker/Broker.js"
import type { BrokerConfigShape } from "../../src/broker/Config.js"
import type { FileLogFaults } from "../../src/log/file.js"
import type { MemoryLogFaults } from "../../src/log/memory.js"
import type { JetStreamLogOptions } from "../../src/log/jetstream.js"
import type { McpConfigShape } from "../../src/mcp/Config.js"
import { serverLayer } from "../../src/server.js"

export interface TestBroker {
  /** e.g. http://127.0.0.1:54321, without a trailing slash. */
  readonly url: string
  readonly dataDir: string | undefined
  /** The broker service inside, for tests that look at what HTTP does not show (e.g. parked waits). */
  readonly broker: BrokerService
  /** Why the broker's state stopped following its log, once it has (a real broker would have exited). */
  readonly broken: () => string | undefined
  /** Stops it (and removes the data dir it made itself); closing again waits for the first close. */
  close(): Promise<void>
}

export interface TestBrokerOptions {
  /** Default true; false runs the file log in `dataDir` (a fresh temp dir when not given). */
  readonly memory?: boolean
  readonly dataDir?: string
  readonly config?: Partial<BrokerConfigShape>
  /**
   * Fault hooks of the log: throw from one to simulate that I/O failing (each log heeds its own);
   * `published` (either log) changes what the log's followers hear.
   */
  readonly faults?: FileLogFaults & MemoryLogFaults
  /** Run on this JetStream stream, as one node of a cluster; `dataDir` then only holds its checkpoints. */
  readonly nats?: JetStreamLogOptions
  /** Listen on this port (default: a free one), e.g. to restart a broker where its clients expect it. */
  readonly port?: number
  /** Tunables of the MCP endpoints. */
  readonly mcp?: Partial<McpConfigShape>
  /** Require this bearer token on every request but /healthz. */
  readonly token?: string
  /**
   * Where the broker's logs go, from which level. By default, warnings and worse to the console:
   * lifecycle lines ("broker started", "checkpoint written") would drown the test output.
   */
  readonly logs?: { readonly logger: Logger.Logger<unknown, void>; readonly level: LogLevel.LogLevel }
  /**
   * Told when the broker's state stops following its log, instead of the process exiting as a real
   * broker does (default: nothing; `TestBroker.broken` records it anyway).
   */
  readonly onBroken?: (reason: string) => void
}

/** Start the real broker in this process on a free loopback port. */
export const startBroker = async (options: TestBrokerOptions = {}): Promise<TestBroker> => {
  const memory = options.memory ?? (options.dataDir === undefined && options.nats === undefined)
  const ownDir = !memory && options.dataDir === undefined
  const dataDir = memory ? undefined : (options.dataDir ?? (await mkdtemp(join(tmpdir(), "broker-test-"))))
  const logged = <A, E>(effect: Effect.Effect<A, E>) =>
    options.logs === undefined
      ? Logger.withMinimumLogLevel(effect, LogLevel.Warning)
      : effect.pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, options.logs.logger)),
          Logger.withMinimumLogLevel(options.logs.level)
        )
  let broken: string | undefined
  const onBroken = (reason: string) =>
    Effect.sync(() => {
      broken = reason
      options.onBroken?.(reason)
    })
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    logged(Layer.buildWithScope(
      serverLayer({
        port: options.port ?? 0,
        host: "127.0.0.1",
        token: options.token,
        memory,
        dataDir: dataDir ?? "",
        config: options.config ?? {},
        nats: options.nats,
        ...(options.mcp === undefined ? {} : { mcp: options.mcp }),
        onBroken,
        ...(options.faults === undefined ? {} : { fileLog: { faults: options.faults }, memoryLog: { faults: options.faults } }),
        ...(options.token === undefined ? {} : { token: options.token })
      }),
      scope
    ))
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  let closed: Promise<void> | undefined
  const close = async () => {
    await Effect.runPromise(logged(Scope.close(scope, Exit.void)))
    if (ownDir && dataDir) await rm(dataDir, { recursive: true, force: true })
  }
  return {
    url: `http://127.0.0.1:${address.port}`,
    dataDir,
    broker: Context.get(context, Broker),
    broken: () => broken,
    // A test may stop a broker itself (to restart it) and its hooks close it again after the test.
    close: () => (closed ??= close())
  }
}
