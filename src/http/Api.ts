import { Schema } from "effect"
import { commandStatuses } from "../core/machines/command.js"
import { commandIdPrefix, isCommandId, nameRule } from "../core/names.js"
import { Action, Capabilities, IdempotencyKey, Label, Name } from "../input/fields.js"
import { expecting } from "../input/problems.js"

/**
 * The request shapes of the REST API: schemas only. Handlers live in rest/handlers.ts; the fields
 * shared with the MCP tools (names, the action) and the wording of refusals live in src/input.
 */

const NonNegativeIntFromString = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()).annotations({
  jsonSchema: { type: "string", pattern: "^[0-9]+$", description: "a whole number, at least 0" }
})

const WholeNumber = NonNegativeIntFromString.pipe(expecting("a whole number, 0 or more"))
const Milliseconds = NonNegativeIntFromString.pipe(expecting("a whole number of milliseconds, 0 or more"))
const Limit = NonNegativeIntFromString.pipe(Schema.between(1, 1000), expecting("a whole number from 1 to 1000"))

export const ConnectBody = Schema.Struct({
  role: Name,
  capabilities: Schema.optionalWith(Capabilities, { default: () => [] }),
  name: Schema.optional(Schema.NullOr(Label).pipe(expecting("a text of at most 128 characters, or null"))),
  // "discover" would be shadowed by GET /peers/discover, and a `cmd-` id by a command's own
  // GET /commands/<command-id>.
  id: Schema.optional(
    Name.pipe(
      Schema.filter((id) => id !== "discover" || "'discover' is reserved"),
      Schema.filter((id) => !isCommandId(id) || `'${commandIdPrefix}' starts command ids`),
      expecting(`${nameRule}, other than 'discover' and not starting with '${commandIdPrefix}'`)
    )
  )
})

export const SendCommandBody = Schema.Struct({
  from: Schema.optionalWith(Name, { default: () => "human" }),
  target: Name,
  action: Action,
  params: Schema.optional(Schema.Unknown),
  ttlMs: Schema.optional(
    Schema.NullOr(Schema.Int.pipe(Schema.positive())).pipe(expecting("a whole number of milliseconds, 1 or more, or null"))
  ),
  idempotencyKey: Schema.optional(IdempotencyKey)
})

export const AckBody = Schema.Struct({
  result: Schema.optional(Schema.Unknown),
  ok: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** The acking peer, when it names itself in the body rather than with X-Peer-Id. */
  from: Schema.optional(Name)
})

export const CancelBody = Schema.Struct({ from: Schema.optional(Name) })

export const FireBody = Schema.Struct({ data: Schema.optional(Schema.Unknown) })

export const WaitQuery = Schema.Struct({ timeout: Schema.optional(Milliseconds) })

export const MessagesQuery = Schema.Struct({
  since: Schema.optionalWith(WholeNumber, { default: () => 0 }),
  limit: Schema.optionalWith(Limit, { default: () => 100 }),
  timeout: Schema.optionalWith(Milliseconds, { default: () => 0 }),
  from: Schema.optional(Name)
})

export const CommandsQuery = Schema.Struct({
  status: Schema.optional(Schema.Literal(...commandStatuses)),
  limit: Schema.optionalWith(Limit, { default: () => 100 })
})

export const StatusQuery = Schema.Struct({ at: Schema.optional(WholeNumber) })

export const RangeQuery = Schema.Struct({
  from: Schema.optional(WholeNumber),
  to: Schema.optional(WholeNumber)
})

/** The seq a reconnecting event stream saw last (absent on a first connect). */
export const LastEventId = Schema.UndefinedOr(WholeNumber)

export const FromQuery = Schema.Struct({ from: Schema.optional(Name) })

/**
 * A token to mint. The fields are plain strings here so that the tokens decider
 * (src/core/decide/tokens.ts) words every refusal: the name's syntax, the project, the role.
 */
export const MintBody = Schema.Struct({
  name: Schema.String,
  project: Schema.optionalWith(Schema.String, { default: () => "default" }),
  role: Schema.String.annotations({ description: "viewer, agent or admin" }),
  boundRole: Schema.optional(Schema.String.annotations({ description: "agent tokens only: the one role its requests may act as" }))
})
