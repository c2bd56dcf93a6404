/**
 * The load side: small HTTP helpers, percentiles, and autocannon as a library. Runs in the
 * harness's own process (or the SSE client process), never in a server's.
 */
import { Agent, request as httpRequest, type ClientRequest } from "node:http"
import { createRequire } from "node:module"

export interface Response {
  readonly status: number
  readonly body: string
}

/** One request; resolves with status and body. `signal` aborts it (used to release parked waits). */
export const request = (
  agent: Agent,
  method: string,
  url: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string>; readonly timeoutMs?: number } = {}
): { readonly done: Promise<Response>; readonly req: ClientRequest } => {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  let req!: ClientRequest
  const done = new Promise<Response>((resolve, reject) => {
    req = httpRequest(
      url,
      {
        method,
        agent,
        headers: {
          ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
          ...options.headers
        }
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`${method} ${url}: no answer within ${options.timeoutMs} ms`)))
    }
    req.end(payload)
  })
  return { done, req }
}

/** A request whose answer must be a 2xx JSON body. */
export const json = async <A = any>(
  agent: Agent,
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
  timeoutMs = 60_000
): Promise<A> => {
  const response = await request(agent, method, url, { body, headers: headers ?? {}, timeoutMs }).done
  if (response.status < 200 || response.status >= 300) {
    throw new Error(`${method} ${url} answered ${response.status}: ${response.body.slice(0, 300)}`)
  }
  return JSON.parse(response.body) as A
}

export const keepAliveAgent = (maxSockets = Infinity) => new Agent({ keepAlive: true, maxSockets })

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The q-quantile (0..1) of `values`, nearest rank; NaN when empty. */
export const quantile = (values: ArrayLike<number>, q: number): number => {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const median = (values: ArrayLike<number>) => quantile(values, 0.5)

/** Runs `task` for each index with at most `concurrency` in flight; stops starting new ones after `deadline`. */
export const pool = async (
  count: number,
  concurrency: number,
  deadline: number,
  task: (i: number) => Promise<void>
): Promise<number> => {
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++
      await task(i)
      done += 1
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return done
}

// autocannon ships no types; this is the slice of its API the harness uses.
interface AutocannonOptions {
  /** Several URLs: connection i goes to `url[i % url.length]`. */
  readonly url: string | ReadonlyArray<string>
  readonly connections: number
  readonly duration?: number
  readonly amount?: number
  readonly method?: string
  readonly body?: string
  readonly headers?: Record<string, string>
  readonly timeout?: number
  /** Each connection's requests in turn; `setupRequest` may change one before it is sent (its path). */
  readonly requests?: ReadonlyArray<{
    readonly method?: string
    readonly body?: string
    readonly headers?: Record<string, string>
    readonly setupRequest?: (request: Record<string, unknown>) => Record<string, unknown>
  }>
}
export interface AutocannonResult {
  readonly duration: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly "2xx": number
  readonly requests: { readonly average: number; readonly total: number }
  readonly latency: { readonly p50: number; readonly p99: number; readonly average: number }
}
/** The tracker it returns is thenable and can be stopped early (it then resolves with what it has). */
type Autocannon = (options: AutocannonOptions) => PromiseLike<AutocannonResult> & { stop(): void }
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon

export interface Throughput {
  /** 2xx answers per second over the run. */
  readonly perSecond: number
  readonly ok: number
  readonly failed: number
  readonly seconds: number
  readonly p50Ms: number
  readonly p99Ms: number
}

const throughputOf = (result: AutocannonResult): Throughput => ({
  perSecond: result["2xx"] / result.duration,
  ok: result["2xx"],
  failed: result.non2xx + result.errors,
  seconds: result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99
})

/** POST `body` to `url` from `connections` keep-alive connections for `seconds`; counts 2xx answers. */
export const postLoad = async (url: string, body: unknown, connections: number, seconds: number): Promise<Throughput> => {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    timeout: 30
  })
  return throughputOf(result)
}

/** `postLoad` over several paths of one server, each connection's requests taking them in turn. */
export const postLoadRotating = async (
  origin: string,
  paths: ReadonlyArray<string>,
  body: unknown,
  connections: number,
  seconds: number
): Promise<Throughput> => {
  let next = 0
  const result = await autocannon({
    url: origin,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
        setupRequest: (request: Record<string, unknown>) => ({ ...request, path: paths[next++ % paths.length] })
      }
    ]
  })
  return throughputOf(result)
}

/**
 * `postLoad` over several full URLs at once (origins and paths may differ): connection i keeps its
 * keep-alive socket to `urls[i % urls.length]` for the whole run, so the connections are dealt out
 * evenly and the requests in flight interleave over the URLs. The same code whether the URLs name
 * one server or several.
 */
export const postLoadUrls = async (
  urls: ReadonlyArray<string>,
  body: unknown,
  connections: number,
  seconds: number,
  /** Stop after this many requests in all (dealt out over the connections), or after `seconds`, whichever comes first. */
  amount?: number
): Promise<Throughput> => {
  const tracker = autocannon({
    url: [...urls],
    connections,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    timeout: 30
  })
  const timer = amount === undefined ? undefined : setTimeout(() => tracker.stop(), seconds * 1000)
  const result = await tracker
  clearTimeout(timer)
  return throughputOf(result)
}

/**
 * POST `body` to `url` `amount` times from `connections` connections (a bounded burst), stopping
 * early after `maxSeconds` if the server is slower than that.
 */
export const postAmount = async (
  url: string,
  body: unknown,
  connections: number,
  amount: number,
  maxSeconds: number
): Promise<Throughput & { readonly stoppedEarly: boolean }> => {
  const tracker = autocannon({
    url,
    connections,
    amount,
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    timeout: 30
  })
  let stoppedEarly = false
  const timer = setTimeout(() => {
    stoppedEarly = true
    tracker.stop()
  }, maxSeconds * 1000)
  const result = await tracker
  clearTimeout(timer)
  return { ...throughputOf(result), stoppedEarly }
}
