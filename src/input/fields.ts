import { Schema } from "effect"
import { namePattern, nameRule } from "../core/names.js"
import { expecting } from "./problems.js"

/**
 * The fields every transport takes from clients alike — REST bodies and paths, MCP tool arguments —
 * each with the words its error sentence uses (see problems.ts).
 */

/** A peer id, role, channel, signal or command id. */
export const Name = Schema.String.pipe(
  Schema.pattern(namePattern, { message: () => `must be ${nameRule}` }),
  expecting(nameRule)
)

export const actionRule = "a non-empty text of at most 200 characters, without control characters"

/** What a command asks for: short, printable text. */
export const Action = Schema.String.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(200),
  Schema.pattern(/^[^\u0000-\u001f]*$/, { message: () => "must not contain control characters" }),
  expecting(actionRule)
)

/** A peer's label, shown to others. */
export const Label = Schema.String.pipe(Schema.maxLength(128), expecting("a text of at most 128 characters"))

/** What a peer can do: a few names. */
export const Capabilities = Schema.Array(Name).pipe(
  Schema.maxItems(64),
  expecting(`a list of at most 64 names (each ${nameRule})`)
)

/**
 * An `Idempotency-Key` (header, body field or MCP argument): 1–200 visible ASCII characters or
 * spaces, e.g. a UUID. The IETF httpapi draft leaves the form to the server.
 */
export const IdempotencyKey = Schema.String.pipe(
  Schema.pattern(/^[\x20-\x7e]{1,200}$/, { message: () => "must be 1–200 visible ASCII characters" }),
  expecting("1–200 visible ASCII characters (e.g. a UUID)")
)
