import { Effect, Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { decodeInput, expecting, preview } from "../../src/input/problems.js"

/** The refusal `decodeInput` words for `input`, or undefined when it is accepted. */
const refusal = <A, I>(schema: Schema.Schema<A, I>, input: unknown, what = "body") => {
  const decoded = Effect.runSync(Effect.either(decodeInput(schema, what)(input)))
  return Either.isLeft(decoded) ? decoded.left.message : undefined
}

describe("input problems, worded for people", () => {
  it("uses the words a field's schema gives, and a preview of what was sent", () => {
    const Body = Schema.Struct({ ttl: Schema.Int.pipe(Schema.positive(), expecting("a whole number, 1 or more")) })
    expect(refusal(Body, { ttl: "soon" })).toBe('invalid body: ttl must be a whole number, 1 or more (got "soon").')
    expect(refusal(Body, {})).toBe("invalid body: ttl is required.")
    expect(refusal(Body, [1])).toBe("body must be a JSON object (got [1]).")
    expect(refusal(Body, { ttl: 3 })).toBeUndefined()
  })

  it("words schemas nobody annotated without naming their internals", () => {
    const Body = Schema.Struct({
      status: Schema.optional(Schema.Literal("pending", "acked")),
      ok: Schema.Boolean,
      tags: Schema.Array(Schema.String),
      label: Schema.optional(Schema.NullOr(Schema.String))
    })
    const message = refusal(Body, { status: "bogus", ok: "yes", tags: [1], label: 5 })!
    expect(message).toBe(
      'invalid body: status must be one of pending, acked (got "bogus"). ok must be true or false (got "yes"). tags[0] must be a string (got 1). And 1 more field.'
    )
    expect(message).not.toMatch(/Expected|Encoded|readonly|Union|Struct/)
  })

  it("shows the start of a long value only, and never half a character", () => {
    expect(preview("a".repeat(10_000))).toBe(`"${"a".repeat(39)}…`)
    const emoji = preview(`${"a".repeat(38)}😀😀😀`)
    expect(emoji).toBe(`"${"a".repeat(38)}…`)
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/)
    expect(preview({ nested: [1, 2] })).toBe('{"nested":[1,2]}')
  })

  it("stays short however many fields are wrong", () => {
    const Body = Schema.Struct(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, Schema.Number])))
    const message = refusal(Body, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, "x".repeat(10_000)])))!
    expect(message.length).toBeLessThan(300)
    expect(message).toMatch(/^invalid body: field0 must be a number \(got "x{39}…\)\. .* And 17 more fields\.$/)
  })
})
