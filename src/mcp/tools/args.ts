import { Schema } from "effect"
import { Action, Capabilities, IdempotencyKey, Label, Name } from "../../input/fields.js"
import { expecting } from "../../input/problems.js"
import { optional, type WaitLimits } from "./define.js"

/**
 * The argument types of the tools. Names and the action are the REST API's own (src/input); numbers
 * and booleans are lenient, because models sometimes send them as strings.
 */

export const NameArg = Name

export const ActionArg = Action

export const LabelArg = Label

export const NamesArg = Capabilities

/** Models sometimes send numbers (and booleans) as strings; both are accepted. */
const NumberArg = Schema.Union(Schema.Number, Schema.NumberFromString).annotations({
  message: () => ({ message: "must be a number", override: true })
})

export const SecondsArg = NumberArg.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n >= 0) || "must be a number of seconds, 0 or more"),
  expecting("a number of seconds, 0 or more")
)

export const CountArg = NumberArg.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n >= 0) || "must be a whole number, 0 or more"),
  expecting("a whole number, 0 or more")
)

export const LimitArg = CountArg.pipe(
  Schema.filter((n) => (n >= 1 && n <= 1000) || "must be 1 to 1000"),
  expecting("a whole number from 1 to 1000")
)

export const IdempotencyKeyArg = IdempotencyKey

export const BooleanArg = Schema.Union(Schema.Boolean, Schema.BooleanFromString).annotations({
  message: () => ({ message: "must be true or false", override: true })
}).pipe(expecting("true or false"))

/** The compact JSON Schemas the tools are listed with. */
export const arg = {
  name: (description: string) => ({ type: "string", description }),
  string: (description: string) => ({ type: "string", description }),
  seconds: (description: string, maximum?: number) => ({ type: "number", ...(maximum === undefined ? {} : { maximum }), description }),
  count: (description: string) => ({ type: "integer", description }),
  boolean: (description: string) => ({ type: "boolean", description }),
  json: (description: string) => ({ description }),
  names: (description: string) => ({ type: "array", items: { type: "string" }, description })
}

/** A wait's `timeout`: the default and the maximum this broker allows, in the description. */
export const timeoutArg = ({ defaultWaitSeconds, maxWaitSeconds }: WaitLimits) =>
  optional(SecondsArg, arg.seconds(`seconds to wait (default ${defaultWaitSeconds})`, maxWaitSeconds))
