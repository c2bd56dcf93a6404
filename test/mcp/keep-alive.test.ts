import { describe, expect, it } from "vitest"
import { quietConfig } from "../http/client.js"
import { useBroker } from "../support/useBroker.js"
import { rawSession, rpcHeaders } from "./support.js"

/**
 * Quiet MCP streams carry comment frames, so that proxies and idle timeouts keep them open: the
 * standalone GET stream of a Streamable HTTP session, the stream answering a long POST, and a legacy
 * SSE session's stream. One timer of the broker writes them all (src/mcp/streamKeepAlive.ts).
 */

const keepAliveMs = 100

/** What arrives on `body` within `ms`, as text. */
const readFor = async (body: ReadableStream<Uint8Array>, ms: number): Promise<string> => {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const stop = setTimeout(() => void reader.cancel().catch(() => undefined), ms)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    // cancelled
  } finally {
    clearTimeout(stop)
  }
  return text
}

const comments = (text: string) => text.split("\n").filter((line) => line === ": keep-alive").length

describe("keep-alive comments on quiet MCP streams", () => {
  const broker = useBroker({ config: quietConfig, mcp: { sseKeepAliveMs: keepAliveMs } })

  it("Streamable HTTP: the standalone GET stream, and a POST answered as a stream while it waits", async () => {
    const session = await rawSession(broker.url)
    const get = await fetch(`${broker.url}/mcp`, { headers: { ...rpcHeaders(session.sessionId), accept: "text/event-stream" } })
    expect(get.status).toBe(200)
    const onGet = await readFor(get.body!, keepAliveMs * 6)
    expect(comments(onGet)).toBeGreaterThanOrEqual(3)

    // A wait of 0.7 s answers on an SSE stream that carries comments until the answer comes.
    const post = await fetch(`${broker.url}/mcp`, {
      method: "POST",
      headers: rpcHeaders(session.sessionId),
      body: JSON.stringify({ jsonrpc: "2.0", id: 90, method: "tools/call", params: { name: "wait_for_signal", arguments: { name: "never", timeout: 0.7 } } })
    })
    expect(post.headers.get("content-type")).toMatch(/text\/event-stream/)
    const answer = await readFor(post.body!, 5_000)
    expect(comments(answer)).toBeGreaterThanOrEqual(3)
    // The comments sit between whole events: the answer still parses.
    const data = answer.split("\n").filter((line) => line.startsWith("data:")).map((line) => JSON.parse(line.slice(5)))
    expect(data.find((message) => message.id === 90)?.result).toBeDefined()
  })

  it("legacy SSE: the session's stream", async () => {
    const res = await fetch(`${broker.url}/mcp/sse`, { headers: { accept: "text/event-stream" } })
    expect(res.status).toBe(200)
    const text = await readFor(res.body!, keepAliveMs * 6)
    expect(text).toMatch(/^event: endpoint\n/m)
    expect(comments(text)).toBeGreaterThanOrEqual(3)
  })
})
