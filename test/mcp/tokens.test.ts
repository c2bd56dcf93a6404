import { describe, expect, it } from "vitest"
import { ok, quietConfig } from "../http/client.js"
import { useBroker } from "../support/useBroker.js"
import { call, callError, join, openSession, type TransportKind } from "./support.js"

/**
 * MCP sessions carry the principal of the token that opened them (src/core/principal.ts): a
 * viewer's session calls the reading tools only, an agent's may not reset, a token bound to a role
 * connects only as that role, and a session answers only to the credentials that opened it.
 */

const admin = "mcp-tokens-admin"
const broker = useBroker({ config: quietConfig, token: admin })
const asAdmin = { headers: { authorization: `Bearer ${admin}` } }

const mint = async (name: string, role: string, boundRole?: string): Promise<string> =>
  ok(await broker.client.post<{ token: string }>("/tokens", { name, role, ...(boundRole ? { boundRole } : {}) }, asAdmin), 201).token

for (const kind of ["http", "sse"] as const satisfies ReadonlyArray<TransportKind>) {
  describe(`over ${kind === "http" ? "Streamable HTTP" : "legacy SSE"}`, () => {
    it("a viewer's session reads, and every writing tool answers read_only_token", async () => {
      const session = await openSession(broker.url, kind, { token: await mint(`${kind}-viewer`, "viewer") })
      try {
        const listed = (await session.client.listTools()).tools.map((tool) => tool.name)
        expect(listed).toContain("broker_status")
        expect(listed).toContain("read_messages")
        expect(listed).not.toContain("send_command")
        expect(listed).not.toContain("reset_broker")
        expect(await call(session, "broker_status")).toBeDefined()
        await call(session, "list_peers")
        for (const [tool, args] of [
          ["connect", { role: "w" }],
          ["send_message", { channel: "general", message: "hi" }],
          ["signal", { name: "go" }],
          ["send_command", { target: "w", action: "x" }],
          ["reset_broker", {}]
        ] as const) {
          expect((await callError(session, tool, args)).code, tool).toBe("read_only_token")
        }
        const channels = ok(await broker.client.get<{ channels: Array<{ name: string }> }>("/channels", asAdmin)).channels
        expect(channels.map((channel) => channel.name)).not.toContain("general")
      } finally {
        await session.close()
      }
    })

    it("an agent's session works but may not reset; a token bound to a role connects only as it", async () => {
      const agent = await openSession(broker.url, kind, { token: await mint(`${kind}-agent`, "agent") })
      const bound = await openSession(broker.url, kind, { token: await mint(`${kind}-bound`, "agent", "backend") })
      try {
        await join(agent, `${kind}-worker`)
        await call(agent, "send_message", { channel: `${kind}-chat`, message: "hi" })
        expect((await callError(agent, "reset_broker")).code).toBe("project_admin_required")
        expect((await agent.client.listTools()).tools.map((tool) => tool.name)).not.toContain("reset_broker")
        expect((await callError(bound, "connect", { role: "reviewer" })).code).toBe("token_role_mismatch")
        await join(bound, "backend")
      } finally {
        await agent.close()
        await bound.close()
      }
    })
  })
}

describe("a Streamable HTTP session answers only to the credentials that opened it", () => {
  it("another token (or the admin's) using its session id is refused 403", async () => {
    const viewer = await mint("owner-viewer", "viewer")
    const session = await openSession(broker.url, "http", { token: viewer })
    try {
      const sessionId = session.http!.sessionId!
      const hijack = await fetch(`${broker.url}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${admin}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-session-id": sessionId,
          "mcp-protocol-version": "2025-06-18"
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "signal", arguments: { name: "x" } } })
      })
      expect(hijack.status).toBe(403)
      expect(await hijack.text()).toContain("opened with other credentials")
      // The session itself goes on.
      await call(session, "broker_status")
    } finally {
      await session.close()
    }
  })
})
