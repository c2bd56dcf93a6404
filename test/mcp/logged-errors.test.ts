/**
 * What goes wrong in MCP sessions is logged, never swallowed: a peer the session sweep could not
 * keep online (its heartbeat failed) used to vanish into `catchAll(() => Effect.void)`, and what
 * the SDK's transport reported went to `onerror = () => undefined`.
 */
import { HashMap, Logger, LogLevel } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { useBrokers } from "../support/useBroker.js"
import { waitFor } from "../http/client.js"
import { join, openSession, peerStatus, rawSession, type McpSession } from "./support.js"

interface Entry {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  /** What was logged after the message (the error), as text. */
  readonly detail: string
}

const capturing = () => {
  const entries: Array<Entry> = []
  const logger = Logger.make(({ logLevel, message, annotations }) => {
    const [first, ...rest] = Array.isArray(message) ? message : [message]
    entries.push({
      level: logLevel.label,
      message: first,
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      detail: rest.map((part) => (part instanceof Error || (typeof part === "object" && part !== null && "message" in part) ? String((part as Error).message) : String(part))).join(" ")
    })
  })
  return { entries, logger }
}

describe("MCP sessions log what goes wrong", () => {
  const brokers = useBrokers()
  let session: McpSession | undefined
  afterEach(async () => {
    await session?.close()
    session = undefined
  })

  it("a peer the session sweep cannot keep online (the log refuses the heartbeat) is a warning", async () => {
    const { entries, logger } = capturing()
    let diskFull = false
    const broker = await brokers.start({
      memory: false,
      config: { staleAfterMs: 300, offlineAfterMs: 600_000, sweepIntervalMs: 50 },
      mcp: { sweepIntervalMs: 1_000 },
      faults: {
        beforeWrite: () => {
          if (diskFull) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" })
        }
      },
      logs: { logger, level: LogLevel.Warning }
    })
    session = await openSession(broker.url, "http")
    const peerId = await join(session, "backend")
    // The broker's sweeper finds it silent; its session is idle, so only the session sweep revives it.
    await waitFor(async () => (await peerStatus(broker.url, peerId)) === "stale", { what: "the peer to go stale" })
    diskFull = true
    const warning = await waitFor(
      () => entries.find((entry) => entry.message === "could not keep an MCP session's peer online"),
      { what: "the warning" }
    )
    expect(warning).toMatchObject({ level: "WARN", annotations: { peerId } })
    expect(warning.detail).toContain("ENOSPC")
    diskFull = false
  })

  it("what the transport reports (a message that is not JSON-RPC) is logged at debug level", async () => {
    const { entries, logger } = capturing()
    const broker = await brokers.start({ logs: { logger, level: LogLevel.Debug } })
    const raw = await rawSession(broker.url)
    const res = await fetch(`${broker.url}/mcp`, {
      method: "POST",
      headers: {
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-session-id": raw.sessionId,
        "mcp-protocol-version": "2025-06-18"
      },
      body: JSON.stringify({ not: "json-rpc" })
    })
    expect(res.status).toBe(400)
    const reported = await waitFor(() => entries.find((entry) => entry.message === "MCP transport error"), {
      what: "the debug line"
    })
    expect(reported).toMatchObject({ level: "DEBUG", annotations: { session: raw.sessionId } })
    expect(reported.detail).toContain("Invalid JSON-RPC message")
  })
})
