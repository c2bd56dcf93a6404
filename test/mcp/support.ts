/**
 * Helpers for the MCP integration tests: SDK clients over both transports, tool calls that assert
 * success or a tool error, and a raw JSON-RPC poster for what the SDK client would not do (a
 * session without its standalone stream, a dropped request).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js"
import { expect } from "vitest"

export type TransportKind = "http" | "sse"

export interface McpSession {
  readonly kind: TransportKind
  readonly client: Client
  /** The Streamable HTTP transport (to read its session id or end the session); undefined over SSE. */
  readonly http: StreamableHTTPClientTransport | undefined
  close(): Promise<void>
}

export const openSession = async (
  baseUrl: string,
  kind: TransportKind,
  options: { readonly sessionId?: string; readonly name?: string; readonly token?: string } = {}
): Promise<McpSession> => {
  const client = new Client({ name: options.name ?? `test-${kind}`, version: "1.0.0" })
  const requestInit = options.token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${options.token}` } } }
  if (kind === "http") {
    const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      ...requestInit,
      ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
      // Quick retries of the standalone stream, so that a restarted broker is found again fast.
      reconnectionOptions: {
        initialReconnectionDelay: 100,
        maxReconnectionDelay: 500,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 20
      }
    })
    // A restarted broker drops the standalone stream; the client reports it and carries on.
    client.onerror = () => undefined
    await client.connect(transport)
    return { kind, client, http: transport, close: () => client.close().catch(() => undefined) }
  }
  const transport = new SSEClientTransport(new URL(`${baseUrl}/mcp/sse`), requestInit)
  client.onerror = () => undefined
  await client.connect(transport)
  return { kind, client, http: undefined, close: () => client.close().catch(() => undefined) }
}

export interface ToolResult {
  readonly content: Array<{ type: string; text?: string }>
  readonly structuredContent?: Record<string, any>
  readonly isError?: boolean
}

export const textOf = (result: ToolResult): string =>
  result.content
    .filter((part) => part.type === "text")
    .map((part) => part.text ?? "")
    .join("\n")

export const callRaw = async (
  session: McpSession,
  name: string,
  args: Record<string, unknown> = {},
  options?: RequestOptions
): Promise<ToolResult> => (await session.client.callTool({ name, arguments: args }, undefined, options)) as ToolResult

/** Call a tool that must succeed; returns its structured content. */
export const call = async (
  session: McpSession,
  name: string,
  args: Record<string, unknown> = {},
  options?: RequestOptions
): Promise<Record<string, any>> => {
  const result = await callRaw(session, name, args, options)
  expect(result.isError, `${name} failed: ${textOf(result)}`).toBeFalsy()
  expect(textOf(result).length, `${name} has a text rendering`).toBeGreaterThan(0)
  expect(result.structuredContent, `${name} has structured content`).toBeDefined()
  return result.structuredContent!
}

/** Call a tool that must fail as a tool error (not a protocol error); returns the error and its text. */
export const callError = async (
  session: McpSession,
  name: string,
  args: Record<string, unknown> = {}
): Promise<{ code: string; message: string; text: string }> => {
  const result = await callRaw(session, name, args)
  expect(result.isError, `${name} should fail but answered: ${textOf(result)}`).toBe(true)
  const error = result.structuredContent?.error as { code: string; message: string }
  expect(error).toMatchObject({ code: expect.any(String), message: expect.any(String) })
  return { ...error, text: textOf(result) }
}

/** Connect a session as `role`; returns its peer id. */
export const join = async (session: McpSession, role: string): Promise<string> => {
  const joined = await call(session, "connect", { role })
  expect(joined.you).toMatchObject({ role, status: "online" })
  return joined.you.id as string
}

// ---------------------------------------------------------------------------------------------
// Raw JSON-RPC over Streamable HTTP
// ---------------------------------------------------------------------------------------------

export const rpcHeaders = (sessionId: string | undefined): Record<string, string> => ({
  accept: "application/json, text/event-stream",
  "content-type": "application/json",
  ...(sessionId === undefined ? {} : { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" })
})

/** The JSON-RPC messages in an SSE (or JSON) response body. */
const messagesOf = (text: string): Array<any> => {
  const trimmed = text.trim()
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) return [JSON.parse(trimmed)].flat()
  return text
    .split(/\n\n/)
    .map((block) =>
      block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n")
    )
    .filter((data) => data.length > 0)
    .map((data) => JSON.parse(data))
}

export interface RawSession {
  readonly sessionId: string
  /** Send one request and return its JSON-RPC response. */
  request(method: string, params: unknown, options?: { signal?: AbortSignal; id?: number }): Promise<any>
  notify(method: string, params?: unknown): Promise<number>
}

let nextId = 1

/** A session started with plain fetch: no standalone GET stream, nothing sent unless asked. */
export const rawSession = async (baseUrl: string): Promise<RawSession> => {
  const init = await fetch(`${baseUrl}/mcp`, {
    method: "POST",
    headers: rpcHeaders(undefined),
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: nextId++,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
    })
  })
  expect(init.status).toBe(200)
  const sessionId = init.headers.get("mcp-session-id")
  expect(sessionId).toBeTruthy()
  await init.text()
  const session: RawSession = {
    sessionId: sessionId!,
    request: async (method, params, options = {}) => {
      const id = options.id ?? nextId++
      const res = await fetch(`${baseUrl}/mcp`, {
        method: "POST",
        headers: rpcHeaders(sessionId!),
        body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
        ...(options.signal ? { signal: options.signal } : {})
      })
      const messages = messagesOf(await res.text())
      const response = messages.find((message) => message.id === id)
      expect(response, `no response to ${method} (status ${res.status})`).toBeDefined()
      return response
    },
    notify: async (method, params) => {
      const res = await fetch(`${baseUrl}/mcp`, {
        method: "POST",
        headers: rpcHeaders(sessionId!),
        body: JSON.stringify({ jsonrpc: "2.0", method, ...(params === undefined ? {} : { params }) })
      })
      await res.text()
      return res.status
    }
  }
  expect(await session.notify("notifications/initialized")).toBe(202)
  return session
}

/** Open peers as the REST API lists them. */
export const peerStatus = async (baseUrl: string, peerId: string): Promise<string | undefined> => {
  const res = await fetch(`${baseUrl}/peers`)
  const body = (await res.json()) as { peers: Array<{ id: string; status: string }> }
  return body.peers.find((peer) => peer.id === peerId)?.status
}
