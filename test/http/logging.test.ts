import { HttpServer } from "@effect/platform"
import { Context, Effect, Exit, HashMap, Layer, Logger, LogLevel, Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { serverLayer } from "../../src/server.js"
import { client, ok } from "./client.js"

interface Entry {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
}

/**
 * The broker's own logging goes through Effect's logger, so whatever logger and level main installs
 * (`--log-format json`, `--log-level`) apply to it. Here a capturing logger stands in for them.
 */
const startLogged = async (level: LogLevel.LogLevel, options: { memory: boolean; dataDir?: string }) => {
  const entries: Array<Entry> = []
  const capture = Logger.make(({ logLevel, message, annotations }) => {
    entries.push({
      level: logLevel.label,
      message: Array.isArray(message) && message.length === 1 ? message[0] : message,
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  const logged = <A, E>(effect: Effect.Effect<A, E>) =>
    effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)), Logger.withMinimumLogLevel(level))
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    logged(
      Layer.buildWithScope(
        serverLayer({ port: 0, host: "127.0.0.1", memory: options.memory, dataDir: options.dataDir ?? "" }),
        scope
      )
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return {
    url: `http://127.0.0.1:${address.port}`,
    entries,
    close: () => Effect.runPromise(logged(Scope.close(scope, Exit.void)))
  }
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe("structured logs", () => {
  it("one debug line per request, naming the route template rather than the path", async () => {
    const broker = await startLogged(LogLevel.Debug, { memory: true })
    cleanups.push(broker.close)
    const c = client(broker.url)
    ok(await c.post("/peers/connect", { id: "log-peer", role: "worker" }))
    expect((await c.get("/peers/nobody")).status).toBe(404)

    const requests = broker.entries.filter((entry) => entry.message === "request")
    expect(requests.map(({ level, annotations: { method, route, status } }) => ({ level, method, route, status }))).toEqual([
      { level: "DEBUG", method: "POST", route: "/peers/connect", status: 200 },
      { level: "DEBUG", method: "GET", route: "/peers/:id", status: 404 }
    ])
    for (const entry of requests) expect(entry.annotations["ms"]).toEqual(expect.any(Number))
  })

  it("at info: the lifecycle, not the requests", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "broker-logs-"))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const broker = await startLogged(LogLevel.Info, { memory: false, dataDir })
    ok(await client(broker.url).post("/signals/logged", {}))
    await broker.close()

    expect(broker.entries.some((entry) => entry.message === "request")).toBe(false)
    const lifecycle = broker.entries.map((entry) => entry.message)
    expect(lifecycle).toEqual(["broker started", "broker stopping", "checkpoint written", "broker stopped"])
    expect(broker.entries[0]!.annotations).toMatchObject({ backend: "file", head: 0, version: "0.1.0" })
    expect(broker.entries[2]!.annotations).toEqual({ seq: 1, path: join(dataDir, "checkpoint.json") })
    expect(broker.entries.every((entry) => entry.level === "INFO")).toBe(true)
  })
})
