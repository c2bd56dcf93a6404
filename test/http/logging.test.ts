import { HashMap, Logger, LogLevel } from "effect"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { call, join as joinAs, openSession } from "../mcp/support.js"
import { useBrokers } from "../support/useBroker.js"
import { client, ok, quietConfig } from "./client.js"

interface Entry {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
}

/**
 * The broker's own logging goes through Effect's logger, so whatever logger and level main installs
 * (`--log-format json`, `--log-level`) apply to it. Here a capturing logger stands in for them.
 */
const capturing = () => {
  const entries: Array<Entry> = []
  const logger = Logger.make(({ logLevel, message, annotations }) => {
    entries.push({
      level: logLevel.label,
      message: Array.isArray(message) && message.length === 1 ? message[0] : message,
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return { entries, logger }
}

describe("structured logs", () => {
  const brokers = useBrokers()

  it("one debug line per request, naming the route template rather than the path", async () => {
    const { entries, logger } = capturing()
    const broker = await brokers.start({ logs: { logger, level: LogLevel.Debug } })
    const c = client(broker.url)
    ok(await c.post("/peers/connect", { id: "log-peer", role: "worker" }))
    expect((await c.get("/peers/nobody")).status).toBe(404)
    await broker.close()

    const requests = entries.filter((entry) => entry.message === "request")
    expect(requests.map(({ level, annotations: { method, route, status } }) => ({ level, method, route, status }))).toEqual([
      { level: "DEBUG", method: "POST", route: "/peers/connect", status: 200 },
      { level: "DEBUG", method: "GET", route: "/peers/:id", status: 404 }
    ])
    for (const entry of requests) expect(entry.annotations["ms"]).toEqual(expect.any(Number))
  })

  it("at info: the lifecycle, not the requests", async () => {
    const { entries, logger } = capturing()
    const broker = await brokers.start({ memory: false, logs: { logger, level: LogLevel.Info } })
    const checkpoint = join(broker.dataDir!, "checkpoint.json")
    ok(await client(broker.url).post("/signals/logged", {}))
    await broker.close()

    expect(entries.some((entry) => entry.message === "request")).toBe(false)
    expect(entries.map((entry) => entry.message)).toEqual([
      "broker started",
      "broker stopping",
      "checkpoint written",
      "broker stopped"
    ])
    expect(entries[0]!.annotations).toMatchObject({ backend: "file", head: 0, version: "0.1.0" })
    expect(entries[2]!.annotations).toEqual({ seq: 1, path: checkpoint })
    expect(entries.every((entry) => entry.level === "INFO")).toBe(true)
  })

  it("MCP sessions log through the same logger (a session resumed after a restart)", async () => {
    const dataDir = await brokers.dataDir("logging-mcp-")
    const first = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const session = await openSession(first.url, "http")
    try {
      const peerId = await joinAs(session, "backend")
      await first.close()
      const { entries, logger } = capturing()
      await brokers.start({
        dataDir,
        memory: false,
        port: Number(new URL(first.url).port),
        config: quietConfig,
        logs: { logger, level: LogLevel.Info }
      })
      expect(await call(session, "my_info")).toMatchObject({ resumed: true })
      expect(entries).toContainEqual(
        expect.objectContaining({ level: "INFO", message: `MCP session resumed after a restart as backend (${peerId})` })
      )
    } finally {
      await session.close()
    }
  })
})
