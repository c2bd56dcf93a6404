/**
 * What a stdio bridge holds upstream (src/bridge/Upstream.ts), in the harness's own process: an
 * MCP SDK `Client` over `StreamableHTTPClientTransport` to `<broker>/mcp`, the `connect` tool called
 * with a role, and the session's standalone GET stream open (the SDK opens it after initialize).
 * Hundreds of them cost the broker what as many bridge processes would, without as many node
 * processes on the client side.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Notification } from "@modelcontextprotocol/sdk/types.js"
import { pool, sleep } from "../load.js"

export interface Link {
  readonly role: string
  readonly client: Client
  /** The GET stream answered 200 (it carries the pushes). */
  streamOpen(): boolean
  /** Errors the SDK reported after connecting (a stream that dropped, say). */
  errors(): number
  close(): Promise<void>
}

export interface LinkOptions {
  /** Called for every notification the broker sends on the session (pushes among them). */
  readonly onNotification?: (notification: Notification) => void
  /** Per-request timeout of the MCP calls made here. */
  readonly timeoutMs?: number
}

/** One upstream link, registered as `role`. Closes what it opened if any step fails. */
export const openLink = async (url: string, role: string, options: LinkOptions = {}): Promise<Link> => {
  let open = false
  let errors = 0
  // The same watch as the bridge's: a GET that answers 200 is the session's stream.
  const watchingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init)
    if (init?.method === "GET" && response.ok) open = true
    return response
  }
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    fetch: watchingFetch,
    // A stream that drops is counted, not retried for ever: the run must end.
    reconnectionOptions: { initialReconnectionDelay: 500, maxReconnectionDelay: 2_000, reconnectionDelayGrowFactor: 2, maxRetries: 2 }
  })
  const client = new Client({ name: "claude-ipc-bench-link", version: "0.0.0" }, { capabilities: {} })
  const onNotification = options.onNotification
  client.fallbackNotificationHandler = async (notification) => onNotification?.(notification)
  const timeout = options.timeoutMs ?? 30_000
  const close = async () => {
    // No DELETE: ending 1,000 sessions would append 1,000 `peer.disconnected`. Aborting the streams
    // leaves the sessions idle on a broker that is about to stop.
    await client.close().catch(() => undefined)
  }
  try {
    await client.connect(transport, { timeout })
    client.onerror = () => {
      errors += 1
    }
    const result = await client.callTool({ name: "connect", arguments: { role } }, undefined, { timeout })
    if (result.isError) throw new Error(`connect(${role}) failed: ${JSON.stringify(result.content).slice(0, 300)}`)
  } catch (error) {
    await close()
    throw error
  }
  return { role, client, streamOpen: () => open, errors: () => errors, close }
}

export interface Links {
  readonly links: ReadonlyArray<Link>
  /** Milliseconds from the first open to the last stream seen open. */
  readonly openedInMs: number
  closeAll(): Promise<void>
}

/**
 * `count` links with roles `${prefix}${i}`, at most `concurrency` opening at once, then waits until
 * every one's GET stream is open. Throws (after closing what it opened) if that takes past `withinMs`.
 */
export const openLinks = async (
  url: string,
  count: number,
  prefix: string,
  options: { readonly concurrency: number; readonly withinMs: number } & LinkOptions
): Promise<Links> => {
  const started = performance.now()
  const deadline = started + options.withinMs
  const links: Array<Link> = []
  const closeAll = async () => {
    await Promise.all(links.map((link) => link.close()))
  }
  let failure: unknown
  try {
    await pool(count, options.concurrency, deadline, async (i) => {
      if (failure !== undefined) return
      try {
        links.push(await openLink(url, `${prefix}${i}`, options))
      } catch (error) {
        failure ??= error
      }
    })
    if (failure !== undefined) throw failure
    if (links.length < count) throw new Error(`only ${links.length} of ${count} MCP links opened within ${options.withinMs} ms`)
    while (links.some((link) => !link.streamOpen())) {
      if (performance.now() > deadline) {
        throw new Error(`${links.filter((link) => !link.streamOpen()).length} of ${count} MCP links never opened their GET stream`)
      }
      await sleep(50)
    }
  } catch (error) {
    await closeAll()
    throw error
  }
  return { links, openedInMs: performance.now() - started, closeAll }
}
