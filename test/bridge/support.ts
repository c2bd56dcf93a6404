/**
 * The stdio bridge as a harness runs it: the real bin spawned by the MCP SDK's own
 * StdioClientTransport, with every notification it sends recorded.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import type { Notification } from "@modelcontextprotocol/sdk/types.js"
import { fileURLToPath } from "node:url"
import { waitFor } from "../http/client.js"

export const bin = fileURLToPath(new URL("../../bin/claude-ipc-broker.js", import.meta.url))

export interface Push {
  readonly content: string
  readonly meta: Record<string, string>
}

export interface BridgeSession {
  readonly client: Client
  readonly transport: StdioClientTransport
  readonly notifications: Array<Notification>
  /** The claude/channel pushes received so far. */
  pushes(): Array<Push>
  /** Resolves with the first push (from index `from` on) that matches, within `ms`. */
  nextPush(match?: (push: Push) => boolean, from?: number, ms?: number): Promise<Push>
  stderr(): string
  close(): Promise<void>
}

export const spawnBridge = async (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<BridgeSession> => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, "mcp", ...args],
    env: { ...(process.env as Record<string, string>), ...env },
    stderr: "pipe"
  })
  let stderr = ""
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const client = new Client({ name: "bridge-test", version: "1.0.0" })
  const notifications: Array<Notification> = []
  client.fallbackNotificationHandler = async (notification) => {
    notifications.push(notification)
  }
  await client.connect(transport)
  const pushes = () =>
    notifications
      .filter((n) => n.method === "notifications/claude/channel")
      .map((n) => n.params as unknown as Push)
  return {
    client,
    transport,
    notifications,
    pushes,
    nextPush: (match = () => true, from = 0, ms = 10_000) =>
      waitFor(() => pushes().slice(from).find(match), { timeoutMs: ms, what: `a push (${stderr.slice(-500)})` }),
    stderr: () => stderr,
    close: () => client.close().catch(() => undefined)
  }
}

/** Meta keys Claude Code keeps: letters, digits and underscores; values strings. */
export const validMeta = (meta: Record<string, unknown>): boolean =>
  Object.entries(meta).every(([key, value]) => /^[A-Za-z0-9_]+$/.test(key) && typeof value === "string")
