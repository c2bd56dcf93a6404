import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js"
import {
  ErrorCode,
  McpError,
  type CallToolRequest,
  type CallToolResult,
  type ListToolsResult,
  type Notification,
  type ReadResourceResult
} from "@modelcontextprotocol/sdk/types.js"
import { version } from "../version.js"

/**
 * The bridge's link to the broker: one Streamable HTTP MCP session on `<url>/mcp` (on
 * `<url>/p/<project>/mcp` for a project other than `default`), kept alive for as long as the bridge runs. The broker's tools, their texts and the pushes all come from there:
 * the bridge adds no second copy of the tool set.
 *
 * - The session's standalone stream (GET) carries the broker's pushes. The SDK reopens it after a
 *   drop, without end here; a broker that restarted resumes the session under the same id (it never
 *   answers 404 for one), so the peer keeps its identity on a file log.
 * - Every stream opened after the first one means the link was lost and is back: `onLinked` then
 *   lets the bridge renew what a restart may have lost (the peer on a memory log, subscriptions).
 * - A broker that is down when the bridge starts is tried again with backoff; meanwhile `linked` is
 *   false and the bridge answers tool calls with a clear error.
 */

export interface UpstreamOptions {
  /** The broker's base address, e.g. http://127.0.0.1:9100. */
  readonly url: string
  /** The project the session acts in; none is `default`, whose routes are the unprefixed ones. */
  readonly project?: string | undefined
  readonly token: string | undefined
  /** Notifications the broker sends on the session's stream (pushes, resource updates). */
  readonly onNotification: (notification: Notification) => void
  /** The session is up: for the first time, or again after the link was lost. */
  readonly onLinked: (first: boolean) => void
  readonly log: (line: string) => void
  /** Backoff between attempts to reach the broker, in ms. */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number }
}

const defaultRetry = { initialMs: 250, maxMs: 2_000 }

/**
 * Why a request failed, in one line: "connect ECONNREFUSED 127.0.0.1:9100", or what the broker
 * said when it refused ("401 unauthorized: the bearer token is wrong").
 */
export const reasonOf = (error: unknown): string => {
  if (error instanceof StreamableHTTPError && typeof error.code === "number") {
    const said = /\{"error":\{"code":"([a-z_]+)","message":"((?:[^"\\]|\\.)*)"/.exec(error.message)
    if (said) return `${error.code} ${said[1]}: ${said[2]!.slice(0, 200)}`
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause
  const inner = cause instanceof Error ? cause.message : undefined
  const outer = error instanceof Error ? error.message : String(error)
  return (inner && inner.length > 0 ? inner : outer).split("\n")[0]!.slice(0, 200)
}

export class Upstream {
  private client: Client | undefined
  private transport: StreamableHTTPClientTransport | undefined
  private streamsOpened = 0
  private closed = false
  private attempt: ReturnType<typeof setTimeout> | undefined
  /** Tool calls waiting for the broker's answer, each abortable when the link breaks under it. */
  private readonly inFlight = new Set<AbortController>()
  /** Why the last attempt to reach the broker failed; undefined once linked. */
  lastError: string | undefined = "not connected yet"
  readonly retry: { readonly initialMs: number; readonly maxMs: number }
  private firstAttemptDone!: () => void
  /** Settles once the first attempt to reach the broker has succeeded or failed. */
  private readonly firstAttempt = new Promise<void>((resolve) => (this.firstAttemptDone = resolve))

  constructor(private readonly options: UpstreamOptions) {
    this.retry = options.retry ?? defaultRetry
  }

  /**
   * Wait (at most `ms`) for the first attempt to reach the broker: a call made the instant the bridge
   * started should find the broker, not an error, when the broker is there.
   */
  settled(ms: number): Promise<void> {
    return Promise.race([this.firstAttempt, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())])
  }

  get linked(): boolean {
    return this.client !== undefined
  }

  get endpoint(): string {
    const { url, project } = this.options
    return project === undefined ? `${url}/mcp` : `${url}/p/${project}/mcp`
  }

  /** Reach the broker, trying again with backoff until it answers or the bridge closes. */
  start(delayMs = 0): void {
    if (this.closed) return
    this.attempt = setTimeout(() => {
      this.connectOnce().then(
        () => this.firstAttemptDone(),
        (error: unknown) => {
          this.firstAttemptDone()
          const reason = reasonOf(error)
          // Said once per reason, not every two seconds while the broker stays away.
          if (reason !== this.lastError) this.options.log(`cannot reach the broker at ${this.endpoint} (${reason}); trying again`)
          this.lastError = reason
          this.start(Math.min(this.retry.maxMs, Math.max(this.retry.initialMs, delayMs * 2)))
        }
      )
    }, delayMs)
  }

  private async connectOnce(): Promise<void> {
    const transport = new StreamableHTTPClientTransport(new URL(this.endpoint), {
      ...(this.options.token === undefined ? {} : { requestInit: { headers: { Authorization: `Bearer ${this.options.token}` } } }),
      fetch: this.watchingFetch,
      reconnectionOptions: {
        initialReconnectionDelay: this.retry.initialMs,
        maxReconnectionDelay: this.retry.maxMs,
        reconnectionDelayGrowFactor: 2,
        maxRetries: Number.POSITIVE_INFINITY
      }
    })
    const client = new Client({ name: "claude-ipc-broker-bridge", version }, { capabilities: {} })
    client.fallbackNotificationHandler = async (notification) => this.options.onNotification(notification)
    // Stream drops are expected across broker restarts; the SDK reopens the stream by itself.
    client.onerror = () => undefined
    try {
      await client.connect(transport)
    } catch (error) {
      await client.close().catch(() => undefined)
      throw error
    }
    if (this.closed) {
      await transport.terminateSession().catch(() => undefined)
      await client.close().catch(() => undefined)
      return
    }
    this.client = client
    this.transport = transport
    this.lastError = undefined
    this.options.log(`linked to the broker at ${this.endpoint}`)
    this.options.onLinked(true)
  }

  /**
   * Sees the session's stream reopen after a drop: the broker may have restarted in between. And
   * watches the streams that carry answers to calls: the SDK does not resume those, so a broker that
   * dies mid-answer (SIGKILL, a crash) would leave the call waiting for its timeout.
   */
  private readonly watchingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init)
    if (init?.method === "GET" && response.ok && this.streamsOpened++ > 0 && !this.closed) {
      this.options.log("the broker's stream is back")
      queueMicrotask(() => this.options.onLinked(false))
    }
    if (init?.method === "POST" && response.ok && response.body !== null && response.headers.get("content-type")?.includes("text/event-stream")) {
      const { status, statusText, headers } = response
      return new Response(breakWatched(response.body, (error) => this.linkBroke(error)), { status, statusText, headers })
    }
    return response
  }

  /** An answer stream broke: the calls in flight will get no answer on it; end them now. */
  private linkBroke(error: unknown): void {
    if (this.closed) return
    this.lastError = reasonOf(error)
    const lost = new LinkLost(this.lastError)
    for (const call of this.inFlight) call.abort(lost)
    this.inFlight.clear()
  }

  private ready(): Client {
    if (this.client === undefined) throw new Unreachable(this.lastError ?? "not connected yet")
    return this.client
  }

  /** Rejects with LinkLost when the link breaks before the answer came. */
  callTool(params: CallToolRequest["params"], options: RequestOptions): Promise<CallToolResult> {
    const client = this.ready()
    const call = new AbortController()
    this.inFlight.add(call)
    const signal = options.signal === undefined ? call.signal : AbortSignal.any([options.signal, call.signal])
    const answer = client.callTool(params, undefined, { ...options, signal }) as Promise<CallToolResult>
    return answer.finally(() => this.inFlight.delete(call))
  }

  listTools(): Promise<ListToolsResult> {
    return this.ready().listTools()
  }

  readResource(uri: string): Promise<ReadResourceResult> {
    return this.ready().readResource({ uri })
  }

  subscribeResource(uri: string): Promise<unknown> {
    return this.ready().subscribeResource({ uri })
  }

  unsubscribeResource(uri: string): Promise<unknown> {
    return this.ready().unsubscribeResource({ uri })
  }

  /** End the session (the broker takes the peer offline), within `withinMs`. */
  async close(withinMs: number): Promise<void> {
    this.closed = true
    clearTimeout(this.attempt)
    const { client, transport } = this
    this.client = undefined
    if (client === undefined || transport === undefined) return
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, withinMs).unref())
    await Promise.race([transport.terminateSession().catch(() => undefined), deadline])
    await Promise.race([client.close().catch(() => undefined), deadline])
  }
}

/** The broker cannot be reached (yet, or at the moment). */
export class Unreachable extends Error {
  readonly _tag = "Unreachable"
}

/**
 * The link to the broker broke while a call waited for its answer. An McpError, so that the SDK
 * rejects the call with it as it is (it wraps any other abort reason as a timeout).
 */
export class LinkLost extends McpError {
  constructor(reason: string) {
    super(ErrorCode.ConnectionClosed, `the link to the broker broke (${reason})`)
  }
}

/** `body` as it is, telling `onBreak` if it errors before its end (the connection dropped). */
const breakWatched = (body: ReadableStream<Uint8Array>, onBreak: (error: unknown) => void): ReadableStream<Uint8Array> => {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      } catch (error) {
        onBreak(error)
        controller.error(error)
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}
