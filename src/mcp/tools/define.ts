import { Data, Effect, Schema } from "effect"
import type { BrokerService } from "../../broker/Broker.js"
import type { BrokerError } from "../../core/errors.js"
import type { Principal } from "../../core/principal.js"
import { describeInputError } from "../../input/problems.js"
import type { Following } from "../inbox.js"

/**
 * What a tool is, and `defineTool`, which makes one from its fields and its `run`: each tool decodes
 * its arguments, calls the Broker service, and renders the answer twice — `structuredContent` for
 * programs and a short text for the model. No tool decides anything the Broker does not: identity
 * is the only state a session keeps.
 */

// ---------------------------------------------------------------------------------------------
// Sessions as the tools see them
// ---------------------------------------------------------------------------------------------

/** What one MCP session knows about itself. The peer id is derived from the session id. */
export interface SessionState {
  readonly transport: "http" | "sse"
  /** Who opened the session (src/http/guard.ts): its tools are checked against that principal's rights. */
  readonly principal: Principal | undefined
  /** The peer this session acts as once connected: a one-way hash of the session id. */
  readonly peerId: string
  /** True after connect(role) (or after a resumed session found its peer in the log). */
  connected: boolean
  /** Created implicitly for a session id the broker did not know (a broker restart). */
  resumed: boolean
  /** Resumed, but the broker knows no peer for it (memory log, or it never connected). */
  lost: boolean
  /** Commands wait_for_command handed to the model in this session; others it holds are handed again. */
  readonly handedOut: Set<string>
  /** Channels and signals this session subscribed to, and how far it has seen them. */
  readonly following: Following
  /** wait_for_command calls in flight (a session inside one is not pushed its commands). */
  waitingForCommand: number
}

export interface ToolContext {
  readonly broker: BrokerService
  readonly session: SessionState
  /** A wait's timeout in ms: the default when absent, clamped to the maximum. */
  readonly waitMs: (seconds: number | undefined) => number
  /** Report progress while `effect` runs, when the client asked for progress. */
  readonly withProgress: (label: string, totalMs: number) => <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** The call was cancelled or its connection dropped: what it returns will not reach the model. */
  readonly aborted: () => boolean
}

/** The wait bounds the descriptions announce, in seconds. */
export interface WaitLimits {
  readonly defaultWaitSeconds: number
  readonly maxWaitSeconds: number
}

export interface ToolOutput {
  readonly structured: Record<string, unknown>
  readonly text: string
}

/** A failure the model should read: a stable code and a sentence saying what to do. */
export class ToolFailure extends Data.TaggedError("ToolFailure")<{ readonly code: string; readonly message: string }> {}

export const fail = (code: string, message: string) => Effect.fail(new ToolFailure({ code, message }))

export type Failure = ToolFailure | BrokerError

// ---------------------------------------------------------------------------------------------
// Arguments: one Effect Schema and one compact JSON Schema per field, declared together
// ---------------------------------------------------------------------------------------------

export type JsonSchema = Record<string, unknown>

interface Field<S extends Schema.Schema.All | Schema.PropertySignature.All> {
  readonly schema: S
  readonly json: JsonSchema
  readonly required: boolean
}

export const required = <A, I>(schema: Schema.Schema<A, I>, json: JsonSchema): Field<Schema.Schema<A, I>> => ({
  schema,
  json,
  required: true
})

/** Optional; a null counts as absent (see `withoutNulls`). */
export const optional = <A, I>(schema: Schema.Schema<A, I>, json: JsonSchema) => ({
  schema: Schema.optionalWith(schema, { exact: true }),
  json,
  required: false
})

type Fields = Record<string, Field<Schema.Schema.All | Schema.PropertySignature.All>>
type Args<F extends Fields> = Schema.Struct.Type<{ [K in keyof F]: F[K]["schema"] }>

/** A tool with its arguments erased: what the session server lists and calls. */
export interface Tool {
  readonly name: string
  /** As listed by tools/list. */
  readonly definition: {
    readonly name: string
    readonly description: string
    readonly inputSchema: JsonSchema
    readonly annotations?: Record<string, unknown>
  }
  readonly call: (args: unknown, context: ToolContext) => Effect.Effect<ToolOutput, Failure>
}

/** Models often send `null` for an argument they mean to leave out. */
const withoutNulls = (input: unknown): unknown =>
  typeof input === "object" && input !== null && !Array.isArray(input)
    ? Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null))
    : (input ?? {})

export const defineTool = <F extends Fields>(spec: {
  readonly name: string
  readonly description: string
  readonly fields: F
  readonly annotations?: Record<string, unknown>
  readonly run: (args: Args<F>, context: ToolContext) => Effect.Effect<ToolOutput, Failure>
}): Tool => {
  const schemas = Object.fromEntries(Object.entries(spec.fields).map(([key, field]) => [key, field.schema]))
  const struct = Schema.Struct(schemas) as unknown as Schema.Schema<Args<F>, unknown>
  const decode = Schema.decodeUnknown(struct, { onExcessProperty: "ignore", errors: "all" })
  const requiredKeys = Object.entries(spec.fields)
    .filter(([, field]) => field.required)
    .map(([key]) => key)
  const inputSchema: JsonSchema = {
    type: "object",
    properties: Object.fromEntries(Object.entries(spec.fields).map(([key, field]) => [key, field.json])),
    ...(requiredKeys.length > 0 ? { required: requiredKeys } : {})
  }
  return {
    name: spec.name,
    definition: {
      name: spec.name,
      description: spec.description,
      inputSchema,
      ...(spec.annotations ? { annotations: spec.annotations } : {})
    },
    call: (input, context) =>
      decode(withoutNulls(input)).pipe(
        Effect.mapError((error) => new ToolFailure({ code: "bad_request", message: describeInputError(error, "arguments") })),
        Effect.flatMap((args) => spec.run(args, context))
      )
  }
}
