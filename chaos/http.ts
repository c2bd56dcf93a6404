/**
 * Every request of a chaos run goes through `request`, which never retries and never hangs: it
 * ends with what the broker did, as one of
 *
 * - `ok`: a 2xx answer (for a write: acknowledged, so it must be in the log exactly once);
 * - `refused`: any other answer (the write must not be in the file log);
 * - `error`: no answer — the connection was refused or cut (a kill): the write may or may not be in the log;
 * - `stall`: no answer within the request's deadline (`deadlineMs`; a long poll's own timeout plus a
 *   grace): the broker neither answered nor refused. The target is 0;
 * - `aborted`: we dropped the request on purpose (a client leaving mid-request).
 */

export interface Target {
  /** "file", "node-a", "node-b". */
  readonly name: string
  readonly url: string
}

export type Outcome =
  | { readonly kind: "ok"; readonly status: number; readonly body: any; readonly ms: number }
  | { readonly kind: "refused"; readonly status: number; readonly body: any; readonly ms: number }
  | { readonly kind: "error"; readonly error: string; readonly ms: number }
  | { readonly kind: "stall"; readonly ms: number }
  | { readonly kind: "aborted"; readonly ms: number }

export interface StallRecord {
  readonly target: string
  readonly route: string
  readonly at: string
  readonly deadlineMs: number
}

/** Counters of every request, and the first stalls in full. */
export class RequestStats {
  total = 0
  ok = 0
  refusedByStatus = new Map<number, number>()
  errors = 0
  stalls = 0
  aborted = 0
  /** MCP calls in flight when their broker was SIGKILLed that the SDK never ended (see mcp.ts). */
  orphaned = 0
  readonly stallRecords: Array<StallRecord> = []
  readonly orphanRecords: Array<StallRecord> = []
  /** "503 log_unavailable POST /channels/:id/send" → count. */
  readonly refusals = new Map<string, number>()
  /** Called with every 2xx answer: the fault injectors measure unavailability with it. */
  onOk: (target: string, at: number) => void = () => undefined

  count(target: Target, route: string, outcome: Outcome, deadlineMs: number) {
    this.total++
    switch (outcome.kind) {
      case "ok":
        this.ok++
        this.onOk(target.name, Date.now())
        break
      case "refused": {
        this.refusedByStatus.set(outcome.status, (this.refusedByStatus.get(outcome.status) ?? 0) + 1)
        // An MCP tool error's text starts with its code ("log_unavailable: …").
        const code = typeof outcome.body === "string" ? (/^[\w-]+/.exec(outcome.body)?.[0] ?? "") : (outcome.body?.error?.code ?? "")
        const key = `${outcome.status === 0 ? "MCP tool error" : outcome.status} ${code} ${route}`.replace(/\s+/g, " ")
        if (this.refusals.size < 200 || this.refusals.has(key)) this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1)
        break
      }
      case "error":
        this.errors++
        break
      case "stall":
        this.stalls++
        if (this.stallRecords.length < 50) this.stallRecords.push({ target: target.name, route, at: new Date().toISOString(), deadlineMs })
        break
      case "aborted":
        this.aborted++
    }
  }

  /** A call cut by a kill that the client library left hanging until its timeout: not a stall of the broker. */
  orphan(target: Target, route: string, deadlineMs: number) {
    this.total++
    this.orphaned++
    if (this.orphanRecords.length < 50) this.orphanRecords.push({ target: target.name, route, at: new Date().toISOString(), deadlineMs })
  }
}

export interface RequestOptions {
  readonly method?: "GET" | "POST" | "DELETE"
  readonly body?: unknown
  readonly headers?: Record<string, string>
  /** No answer by then is a stall. */
  readonly deadlineMs: number
  /** Drop the request (a client leaving) after this many ms: the outcome is then `aborted` (if it had not ended). */
  readonly abortAfterMs?: number
  /** A name for the stall record: the route template. */
  readonly route: string
}

const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? error.message
}

export const request = async (stats: RequestStats, target: Target, path: string, options: RequestOptions): Promise<Outcome> => {
  const started = performance.now()
  const controller = new AbortController()
  let why: "stall" | "aborted" | undefined
  const deadline = setTimeout(() => {
    why = "stall"
    controller.abort()
  }, options.deadlineMs)
  const dropper =
    options.abortAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          why ??= "aborted"
          controller.abort()
        }, options.abortAfterMs)
  let outcome: Outcome
  try {
    const res = await fetch(`${target.url}${path}`, {
      method: options.method ?? "GET",
      headers: {
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: controller.signal
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text === "" ? undefined : JSON.parse(text)
    } catch {
      // NDJSON or plain text: the caller reads `body` as the text.
    }
    const ms = performance.now() - started
    outcome = res.status >= 200 && res.status < 300 ? { kind: "ok", status: res.status, body, ms } : { kind: "refused", status: res.status, body, ms }
  } catch (error) {
    const ms = performance.now() - started
    outcome = why === "stall" ? { kind: "stall", ms } : why === "aborted" ? { kind: "aborted", ms } : { kind: "error", error: describeError(error), ms }
  } finally {
    clearTimeout(deadline)
    if (dropper) clearTimeout(dropper)
  }
  stats.count(target, options.route, outcome, options.deadlineMs)
  return outcome
}

/** The error code of a refused answer (`{"error":{"code":…}}`), or the status. */
export const codeOf = (outcome: Outcome): string =>
  outcome.kind === "refused" ? (outcome.body?.error?.code ?? String(outcome.status)) : outcome.kind
