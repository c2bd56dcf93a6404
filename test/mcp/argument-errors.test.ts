/**
 * Errors for people, over MCP: every tool called with bad arguments — wrong types, lists, objects,
 * huge strings, negative numbers, invalid names, and all of them at once — and every tool error's
 * message is under 300 characters and free of schema internals. (test/http/error-messages.test.ts
 * does the same over the REST routes.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { quietConfig } from "../http/client.js"
import { badValues, expectReadable, huge } from "../http/readable.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { callError, callRaw, openSession, type McpSession } from "./support.js"

describe("tool argument errors", () => {
  let broker: TestBroker

  beforeAll(async () => {
    // Every wait clamped to a moment: a call the corpus gets right answers at once.
    broker = await startBroker({ config: { ...quietConfig, maxWaitMs: 50 }, mcp: { maxWaitSeconds: 0.05 } })
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("over a corpus of bad arguments for every tool, each is short and in plain words", async () => {
    const session: McpSession = await openSession(broker.url, "http")
    try {
      // Connected, so that calls the corpus gets right do what they do instead of failing for that.
      await callRaw(session, "connect", { role: "corpus" })
      const { tools } = await session.client.listTools()
      let refused = 0
      for (const tool of tools) {
        const fields = Object.keys(tool.inputSchema.properties ?? {})
        const calls: Array<[string, Record<string, unknown>]> = [
          ...fields.flatMap((field) => badValues.map((value): [string, Record<string, unknown>] => [`${field}=${JSON.stringify(value).slice(0, 20)}`, { [field]: value }])),
          ...(fields.length > 0 ? [["every argument huge", Object.fromEntries(fields.map((f) => [f, huge]))] as [string, Record<string, unknown>]] : []),
          ...(fields.length > 0 ? [["every argument a list", Object.fromEntries(fields.map((f) => [f, [1, huge]]))] as [string, Record<string, unknown>]] : [])
        ]
        for (const [what, args] of calls) {
          // A call the corpus gets right must not act on the broker for real: no resets, no leaving.
          if (tool.name === "reset_broker" || tool.name === "disconnect") continue
          const result = await callRaw(session, tool.name, args)
          if (!result.isError) continue
          const error = result.structuredContent?.error as { code: string; message: string }
          if (error.code === "bad_request") refused++
          expectReadable(error.message, `${tool.name} ${what}`)
        }
      }
      expect(refused).toBeGreaterThan(200)
    } finally {
      await session.close()
    }
  }, 120_000)

  it("say which argument, what it should be, and a short preview of what was sent", async () => {
    const session = await openSession(broker.url, "http")
    try {
      expect((await callError(session, "wait_for_command", { timeout: -1 })).message).toBe(
        "invalid arguments: timeout must be a number of seconds, 0 or more (got -1)."
      )
      expect((await callError(session, "send_command", {})).message).toBe("invalid arguments: target is required. action is required.")
      expect((await callError(session, "read_messages", { channel: "c", limit: 5000 })).message).toBe(
        "invalid arguments: limit must be a whole number from 1 to 1000 (got 5000)."
      )
      expect((await callError(session, "subscribe", { channel: huge })).message).toMatch(/^invalid arguments: channel must be 1–64 characters: .* \(got "x{39}…\)\.$/)
    } finally {
      await session.close()
    }
  })
})
