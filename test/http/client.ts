/**
 * Small helpers shared by the REST API integration tests: JSON requests against a running broker,
 * a poller for eventually-true conditions, a deadline wrapper, and an SSE frame reader.
 *
 * Nothing here asserts timing: deadlines are generous and only turn a hang into a readable failure.
 */
import { expect } from "vitest"

// ---------------------------------------------------------------------------------------------
// Wire shapes (as the spec describes them)
// ---------------------------------------------------------------------------------------------

export type PeerStatus = "online" | "stale" | "offline"
export interface Peer {
  id: string
  role: string
  capabilities: Array<string>
  name: string | null
  status: PeerStatus
  connectedAt: string
  lastSeenAt: string
}

export type CommandStatus = "pending" | "delivered" | "acked" | "failed" | "expired" | "cancelled"
export interface Command {
  id: string
  from: string
  target: string
  action: string
  params: unknown
  status: CommandStatus
  createdAt: string
  deliveredTo: string | null
  deliveredAt: string | null
  result: unknown
  ackedAt: string | null
}

export interface Message {
  id: number
  channel: string
  from: string | null
  at: string
  data: unknown
}
export interface MessagesPage {
  channel: string
  messages: Array<Message>
  firstId: number
  lastId: number
}
export interface ChannelSummary {
  name: string
  count: number
  firstId: number
  lastId: number
  lastAt: string | null
}

export interface Signal {
  name: string
  fired: boolean
  data: unknown
  firedAt: string | null
  firedBy: string | null
  count: number
}

export interface ErrorBody {
  error: { code: string; message: string }
}

export interface LogEvent {
  seq: number
  at: string
  type: string
  data: Record<string, unknown>
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export interface ApiResponse<T = any> {
  readonly status: number
  readonly headers: Headers
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  readonly body: T
  readonly text: string
}

export interface RequestOptions {
  /** A value to JSON-encode as the body. */
  readonly json?: unknown
  /** A raw body, sent as-is (used for malformed JSON and oversized bodies). */
  readonly raw?: string
  readonly headers?: Record<string, string>
  readonly signal?: AbortSignal
  readonly redirect?: RequestRedirect
}

export const request = async <T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {}
): Promise<ApiResponse<T>> => {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers }
  let body: string | undefined
  if (options.raw !== undefined) {
    body = options.raw
    headers["content-type"] ??= "application/json"
  } else if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    headers["content-type"] ??= "application/json"
  }
  const init: RequestInit = { method, headers }
  if (body !== undefined) init.body = body
  if (options.signal !== undefined) init.signal = options.signal
  if (options.redirect !== undefined) init.redirect = options.redirect
  const res = await fetch(baseUrl + path, init)
  const text = await res.text()
  let parsed: unknown = undefined
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text }
}

/**
 * A client bound to one broker URL. Given a function, it asks for the URL at each request, so it
 * can be made before the broker has started (as `useBroker` does).
 */
export const client = (baseUrl: string | (() => string)) => {
  const base = typeof baseUrl === "string" ? () => baseUrl : baseUrl
  return {
    get: <T = any>(path: string, options?: RequestOptions) => request<T>(base(), "GET", path, options),
    post: <T = any>(path: string, json?: unknown, options?: RequestOptions) =>
      request<T>(base(), "POST", path, json === undefined ? options : { ...options, json }),
    del: <T = any>(path: string, options?: RequestOptions) => request<T>(base(), "DELETE", path, options)
  }
}
export type Client = ReturnType<typeof client>

/** Asserts a 2xx status (with the body in the failure message) and returns the body. */
export const ok = <T>(res: ApiResponse<T>, status?: number | ReadonlyArray<number>): T => {
  const allowed = status === undefined ? [200] : typeof status === "number" ? [status] : status
  expect(allowed, `unexpected status ${res.status}: ${res.text}`).toContain(res.status)
  return res.body
}

/** Asserts a JSON error of the given status and code. */
export const expectError = (res: ApiResponse, status: number, code: string): ErrorBody => {
  expect(res.status, `expected ${status} ${code}, got ${res.status}: ${res.text}`).toBe(status)
  expect(res.headers.get("content-type") ?? "").toMatch(/application\/json/)
  const body = res.body as ErrorBody
  expect(body, `error body: ${res.text}`).toMatchObject({ error: { code, message: expect.any(String) } })
  expect(body.error.message.length).toBeGreaterThan(0)
  return body
}

export const errorCodeFor: Record<number, string> = {
  400: "bad_request",
  404: "not_found",
  409: "conflict",
  413: "payload_too_large"
}

// ---------------------------------------------------------------------------------------------
// Domain shortcuts
// ---------------------------------------------------------------------------------------------

export const connect = async (
  c: Client,
  body: { role: string; capabilities?: Array<string>; name?: string; id?: string }
): Promise<Peer> => ok(await c.post<Peer>("/peers/connect", { capabilities: [], ...body }))

export const sendCommand = async (
  c: Client,
  body: { target: string; action: string; from?: string; params?: unknown; ttlMs?: number }
): Promise<Command> => ok(await c.post<Command>("/commands/send", body), [200, 201])

export const waitCommand = async (
  c: Client,
  peerId: string,
  timeoutMs: number
): Promise<{ command: Command | null; timedOut?: boolean }> =>
  ok(await c.get(`/commands/${encodeURIComponent(peerId)}/wait?timeout=${timeoutMs}`))

export const ack = async (c: Client, commandId: string, body: { result?: unknown; ok?: boolean }): Promise<Command> =>
  ok(await c.post<Command>(`/commands/${encodeURIComponent(commandId)}/ack`, body))

export const logHead = async (c: Client): Promise<number> => {
  const status = ok(await c.get<{ log: { head: number } }>("/status"))
  expect(typeof status.log.head).toBe("number")
  return status.log.head
}

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

// ---------------------------------------------------------------------------------------------
// Time helpers (no timing assertions: only generous deadlines)
// ---------------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Rejects with a readable message if `promise` does not settle within `ms`. */
export const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/**
 * Polls `probe` until it returns a value that is not undefined/false, and returns that value.
 * Fails after `timeoutMs` with the last observed value in the message.
 */
export const waitFor = async <T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}
): Promise<T> => {
  const timeoutMs = options.timeoutMs ?? 10_000
  const intervalMs = options.intervalMs ?? 25
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    last = await probe()
    if (last !== undefined && last !== false) return last as T
    if (Date.now() > deadline) {
      throw new Error(`${options.what ?? "condition"} not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
    }
    await sleep(intervalMs)
  }
}

/** A broker config that keeps the sweeper quiet for the length of a test file. */
export const quietConfig = {
  staleAfterMs: 600_000,
  offlineAfterMs: 1_200_000,
  leaseMs: 600_000
} as const

// ---------------------------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------------------------

export interface SseFrame {
  id: string | undefined
  event: string | undefined
  data: string
}

export interface SseStream {
  readonly status: number
  readonly headers: Headers
  /** Resolves with the next event frame (comments and keep-alives are skipped). */
  next(ms?: number): Promise<SseFrame>
  /** Number of comment lines (keep-alives) seen so far. */
  readonly comments: number
  close(): void
}

/** Opens an SSE stream with fetch and parses frames incrementally. Always `close()` it. */
export const openSse = async (url: string, headers: Record<string, string> = {}): Promise<SseStream> => {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal })
  if (res.body === null) throw new Error(`SSE response without a body (status ${res.status})`)
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  let comments = 0
  const queue: Array<SseFrame> = []

  const parseBuffered = () => {
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(buffer)
      if (match === null) return
      const block = buffer.slice(0, match.index)
      buffer = buffer.slice(match.index + match[0].length)
      let id: string | undefined
      let event: string | undefined
      const data: Array<string> = []
      let fields = 0
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line === "") continue
        if (line.startsWith(":")) {
          comments++
          continue
        }
        const colon = line.indexOf(":")
        const field = colon === -1 ? line : line.slice(0, colon)
        let value = colon === -1 ? "" : line.slice(colon + 1)
        if (value.startsWith(" ")) value = value.slice(1)
        fields++
        if (field === "id") id = value
        else if (field === "event") event = value
        else if (field === "data") data.push(value)
      }
      if (fields > 0 && data.length > 0) queue.push({ id, event, data: data.join("\n") })
    }
  }

  const next = async (ms = 10_000): Promise<SseFrame> => {
    const read = async (): Promise<SseFrame> => {
      for (;;) {
        const frame = queue.shift()
        if (frame !== undefined) return frame
        const chunk = await reader.read()
        if (chunk.done) throw new Error("SSE stream ended")
        buffer += decoder.decode(chunk.value, { stream: true })
        parseBuffered()
      }
    }
    return within(read(), ms, "next SSE frame")
  }

  return {
    status: res.status,
    headers: res.headers,
    next,
    get comments() {
      return comments
    },
    close: () => {
      controller.abort()
      reader.cancel().catch(() => undefined)
    }
  }
}
