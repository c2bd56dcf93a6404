import { Effect, ParseResult, Schema } from "effect"
import { BadRequest } from "../core/errors.js"
import { commandStatuses } from "../core/machines/command.js"
import { namePattern, nameRule } from "../core/names.js"

/** The request shapes of the REST API: schemas only. Handlers live in Http.ts. */

export const Name = Schema.String.pipe(
  Schema.pattern(namePattern, { message: () => `must be ${nameRule}` })
)

const NonNegativeIntFromString = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()).annotations({
  jsonSchema: { type: "string", pattern: "^[0-9]+$", description: "a whole number, at least 0" }
})

export const ConnectBody = Schema.Struct({
  role: Name,
  capabilities: Schema.optionalWith(Schema.Array(Name).pipe(Schema.maxItems(64)), { default: () => [] }),
  name: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(128)))),
  // "discover" would be shadowed by GET /peers/discover.
  id: Schema.optional(Name.pipe(Schema.filter((id) => id !== "discover" || "'discover' is reserved")))
})

export const SendCommandBody = Schema.Struct({
  from: Schema.optionalWith(Name, { default: () => "human" }),
  target: Name,
  action: Schema.String.pipe(
    Schema.minLength(1, { message: () => "action must not be empty" }),
    Schema.maxLength(200),
    Schema.pattern(/^[^\u0000-\u001f]*$/, { message: () => "action must not contain control characters" })
  ),
  params: Schema.optional(Schema.Unknown),
  ttlMs: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.positive())))
})

export const AckBody = Schema.Struct({
  result: Schema.optional(Schema.Unknown),
  ok: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** The acking peer, when it names itself in the body rather than with X-Peer-Id. */
  from: Schema.optional(Name)
})

export const CancelBody = Schema.Struct({ from: Schema.optional(Name) })

export const FireBody = Schema.Struct({ data: Schema.optional(Schema.Unknown) })

export const WaitQuery = Schema.Struct({ timeout: Schema.optional(NonNegativeIntFromString) })

export const MessagesQuery = Schema.Struct({
  since: Schema.optionalWith(NonNegativeIntFromString, { default: () => 0 }),
  limit: Schema.optionalWith(NonNegativeIntFromString.pipe(Schema.between(1, 1000)), { default: () => 100 }),
  timeout: Schema.optionalWith(NonNegativeIntFromString, { default: () => 0 }),
  from: Schema.optional(Name)
})

export const CommandsQuery = Schema.Struct({
  status: Schema.optional(Schema.Literal(...commandStatuses)),
  limit: Schema.optionalWith(NonNegativeIntFromString.pipe(Schema.between(1, 1000)), { default: () => 100 })
})

export const StatusQuery = Schema.Struct({ at: Schema.optional(NonNegativeIntFromString) })

export const RangeQuery = Schema.Struct({
  from: Schema.optional(NonNegativeIntFromString),
  to: Schema.optional(NonNegativeIntFromString)
})

export const FromQuery = Schema.Struct({ from: Schema.optional(Name) })

/** Decode untrusted input; every failure becomes one readable 400 naming what was wrong. */
export const decode =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (input: unknown): Effect.Effect<A, BadRequest> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "ignore", errors: "all" })(input).pipe(
      Effect.mapError(
        (error) =>
          new BadRequest({
            message: `invalid ${what}: ${ParseResult.ArrayFormatter.formatErrorSync(error)
              .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
              .join("; ")}`
          })
      )
    )
