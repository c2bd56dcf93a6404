import { Effect, Stream } from "effect"
import { defaultProject } from "../core/projects.js"
import { BrokerRefused, BrokerUnreachable } from "./errors.js"

/** Where the broker is and how to get in: from --url/BROKER_URL, --token/BROKER_TOKEN and --project/BROKER_PROJECT. */
export interface Connection {
  /** e.g. http://127.0.0.1:9100, without a trailing slash. */
  readonly url: string
  readonly token: string | undefined
  /** The project requests act in (a checked name); none, like `default`, uses the unprefixed routes. */
  readonly project?: string | undefined
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | undefined>>
  /** Sent as JSON; `undefined` sends no body at all. */
  readonly body?: unknown
  /** The caller's identity (`X-Peer-Id`), if it gives one. */
  readonly from?: string | undefined
  readonly headers?: Readonly<Record<string, string>>
}

export type ClientError = BrokerUnreachable | BrokerRefused

/**
 * The whole broker's routes, not a project's: the server routes `/p/x/tokens` too (the same route,
 * guarded the same), but a prefix there would suggest the answer is the project's, which it is not.
 */
const brokerWide = ["/tokens", "/projects", "/healthz", "/metrics"]

const isBrokerWide = (path: string) => brokerWide.some((route) => path === route || path.startsWith(`${route}/`) || path.startsWith(`${route}?`))

/**
 * A route as the connection's project has it: `/p/<project>/…`, or as it is for project `default`.
 * The one place a subcommand's path gets its project, so that no subcommand can forget it.
 */
export const projectPath = (project: string | undefined, path: string): string =>
  project === undefined || project === defaultProject || isBrokerWide(path) ? path : `/p/${project}${path}`

const address = (connection: Connection, path: string, query: RequestOptions["query"]) => {
  const url = new URL(`${connection.url}${projectPath(connection.project, path)}`)
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value))
  }
  return url
}

const reasonOf = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
}

/** The broker's `{"error":{code,message}}`, or what we can say about an answer that is not one. */
const refusal = async (response: Response): Promise<BrokerRefused> => {
  const text = await response.text().catch(() => "")
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
    if (typeof error?.code === "string" && typeof error.message === "string") {
      return new BrokerRefused({ status: response.status, code: error.code, detail: error.message })
    }
  } catch {
    // not the broker's envelope: fall through
  }
  return new BrokerRefused({
    status: response.status,
    code: `http_${response.status}`,
    detail: text.trim().slice(0, 200) || response.statusText
  })
}

/**
 * One request to the broker, answered with a 2xx response whose body is still unread (for streams).
 * Interrupting the effect aborts the request, so Ctrl-C ends a long poll at once.
 */
export const open = (
  connection: Connection,
  method: string,
  path: string,
  options: RequestOptions = {}
): Effect.Effect<Response, ClientError> =>
  Effect.gen(function* () {
    const headers: Record<string, string> = { ...options.headers }
    if (connection.token !== undefined) headers.authorization = `Bearer ${connection.token}`
    if (options.from !== undefined) headers["x-peer-id"] = options.from
    if (options.body !== undefined) headers["content-type"] = "application/json"
    const response = yield* Effect.tryPromise({
      try: (signal) =>
        fetch(address(connection, path, options.query), {
          method,
          headers,
          signal,
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
        }),
      catch: (error) => new BrokerUnreachable({ url: connection.url, reason: reasonOf(error) })
    })
    if (!response.ok) return yield* Effect.flatMap(Effect.promise(() => refusal(response)), Effect.fail)
    return response
  })

/** A request whose answer is JSON. */
export const request = <A>(
  connection: Connection,
  method: string,
  path: string,
  options: RequestOptions = {}
): Effect.Effect<A, ClientError> =>
  Effect.flatMap(open(connection, method, path, options), (response) =>
    Effect.tryPromise({
      try: () => response.json() as Promise<A>,
      catch: (error) => new BrokerUnreachable({ url: connection.url, reason: `the answer broke off: ${reasonOf(error)}` })
    })
  )

/** The body of an open response as a stream of bytes; a connection lost midway says what broke off. */
export const bodyOf = (connection: Connection, response: Response, what: string): Stream.Stream<Uint8Array, BrokerUnreachable> =>
  Stream.fromReadableStream({
    evaluate: () => response.body!,
    onError: (error) => new BrokerUnreachable({ url: connection.url, reason: `${what} broke off: ${String(error)}` })
  })

/** Path segments are names (letters, digits, . _ : -), but a typo must not become another route. */
export const segment = (name: string): string => encodeURIComponent(name)
