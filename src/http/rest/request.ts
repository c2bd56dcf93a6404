import { Effect, Either, Schema } from "effect"
import type { IncomingMessage } from "node:http"
import { BadRequest, type BrokerError } from "../../core/errors.js"
import type { Principal } from "../../core/principal.js"
import { isName } from "../../core/names.js"
import { parseJson, readBody, readBodyWith } from "../../input/body.js"
import { IdempotencyKey, Name } from "../../input/fields.js"
import { decodeInputEither } from "../../input/problems.js"
import { FromQuery } from "../Api.js"

/**
 * What a REST handler knows of its request, and the inputs it takes from it, each validated: a
 * name from the path, the query, the JSON body, the caller. Plain data in; what is known at once
 * comes out as an Either (which is an Effect too), the body through a callback or an Effect, so
 * the handlers depend on no HTTP framework and the synchronous hot path (direct.ts) shares them.
 */
export interface RestRequest {
  /** The route's `:params`, URI-decoded. */
  readonly params: Readonly<Record<string, string>>
  /** The query string without its `?` ("" when there is none). */
  readonly search: string
  readonly source: IncomingMessage
  /** Who the guard found the request to be (undefined: /healthz, or a handler called by a test). */
  readonly principal?: Principal | undefined
}

/** The limits the inputs are read with. */
export interface InputLimits {
  readonly maxBodyBytes: number
  readonly defaultWaitMs: number
  readonly maxWaitMs: number
}

/**
 * A name from the request. Valid names (nearly all) are checked with the pattern alone; the schema
 * runs only to word the 400 for an invalid one.
 */
export const nameFrom = (value: string | undefined, what: string): Either.Either<string, BadRequest> =>
  value !== undefined && isName(value) ? Either.right(value) : decodeInputEither(Name, what)(value)

export const param = (request: RestRequest, name: string) => nameFrom(request.params[name], `path parameter '${name}'`)

/** The query as the schemas take it: a repeated key is an array of its values. */
const searchParams = (search: string): Record<string, string | Array<string>> => {
  const params: Record<string, string | Array<string>> = {}
  for (const [key, value] of new URLSearchParams(search)) {
    const before = params[key]
    params[key] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  return params
}

/** Most requests carry no query string; its decoded defaults are worked out once per schema. */
const emptyQueries = new WeakMap<object, unknown>()

export const query = <A, I>(request: RestRequest, schema: Schema.Schema<A, I>): Either.Either<A, BadRequest> => {
  if (request.search !== "") return decodeInputEither(schema, "query")(searchParams(request.search))
  if (!emptyQueries.has(schema)) {
    const decoded = Schema.decodeUnknownEither(schema)({})
    if (decoded._tag === "Left") return decodeInputEither(schema, "query")({})
    emptyQueries.set(schema, decoded.right)
  }
  return Either.right(emptyQueries.get(schema) as A)
}

/** The JSON body, or `undefined` when there is none. */
export const optionalBody = (request: RestRequest, limits: InputLimits) =>
  Effect.flatMap(readBody(request.source, limits.maxBodyBytes), parseJson)

/** `optionalBody` through a callback; the function returned stops reading without calling `done`. */
export const optionalBodyWith = (
  request: RestRequest,
  limits: InputLimits,
  done: (body: Either.Either<unknown, BrokerError>) => void
): (() => void) => readBodyWith(request.source, limits.maxBodyBytes, (read) => done(Either.flatMap(read, parseJson)))

/** A body the route requires, decoded by `schema`. */
export const requiredBody =
  <A, I>(schema: Schema.Schema<A, I>) => {
    const decode = decodeInputEither(schema, "body")
    return (value: unknown): Either.Either<A, BadRequest> =>
      value === undefined ? Either.left(new BadRequest({ message: "a JSON body is required" })) : decode(value)
  }

export const body = <A, I>(request: RestRequest, limits: InputLimits, schema: Schema.Schema<A, I>) =>
  Effect.flatMap(optionalBody(request, limits), requiredBody(schema))

/** Long-poll timeouts: the default when absent, clamped to the configured maximum. */
export const waitMs = (limits: InputLimits, timeout: number | undefined) =>
  Math.min(timeout ?? limits.defaultWaitMs, limits.maxWaitMs)

/** The peer a caller says it is: `X-Peer-Id`, else `?from=`, else nobody in particular. */
export const caller = (request: RestRequest): Either.Either<string | null, BadRequest> => {
  const header = request.source.headers["x-peer-id"]
  if (header !== undefined) return nameFrom(Array.isArray(header) ? header[0] : header, "X-Peer-Id header")
  return Either.map(query(request, FromQuery), ({ from }) => from ?? null)
}

/**
 * The send's idempotency key: the `Idempotency-Key` header, or the body's `idempotencyKey`; both
 * must agree when both are given.
 */
export const idempotencyKeyOf = (request: RestRequest, fromBody: string | undefined): Either.Either<string | undefined, BadRequest> => {
  const header = request.source.headers["idempotency-key"]
  if (header === undefined) return Either.right(fromBody)
  return Either.flatMap(decodeIdempotencyKey(Array.isArray(header) ? header[0] : header), (key) =>
    fromBody === undefined || fromBody === key
      ? Either.right(key)
      : Either.left(new BadRequest({ message: "the Idempotency-Key header and the body's idempotencyKey differ; give one, or the same" }))
  )
}

const decodeIdempotencyKey = decodeInputEither(IdempotencyKey, "Idempotency-Key header")
