import { HttpServer } from "@effect/platform"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BrokerConfigShape } from "../../src/broker/Config.js"
import { serverLayer } from "../../src/server.js"

export interface TestBroker {
  /** e.g. http://127.0.0.1:54321, without a trailing slash. */
  readonly url: string
  readonly dataDir: string | undefined
  close(): Promise<void>
}

export interface TestBrokerOptions {
  /** Default true; false runs the file log in `dataDir` (a fresh temp dir when not given). */
  readonly memory?: boolean
  readonly dataDir?: string
  readonly config?: Partial<BrokerConfigShape>
}

/** Start the real broker in this process on a free loopback port. */
export const startBroker = async (options: TestBrokerOptions = {}): Promise<TestBroker> => {
  const memory = options.memory ?? options.dataDir === undefined
  const ownDir = !memory && options.dataDir === undefined
  const dataDir = memory ? undefined : (options.dataDir ?? (await mkdtemp(join(tmpdir(), "broker-test-"))))
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      serverLayer({ port: 0, host: "127.0.0.1", memory, dataDir: dataDir ?? "", config: options.config ?? {} }),
      scope
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return {
    url: `http://127.0.0.1:${address.port}`,
    dataDir,
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      if (ownDir && dataDir) await rm(dataDir, { recursive: true, force: true })
    }
  }
}
