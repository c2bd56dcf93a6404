import { expect } from "vitest"

/**
 * What a refusal's message must be for the person (or model) reading it: short, and in plain words
 * rather than the schema library's internals.
 */

export const maxMessageLength = 300

/** Words only a schema's own error report uses. */
export const schemaInternals = /Encoded side|Expected Struct|Expected null|Refinement|Transformation|ParseError|\{ readonly/

export const expectReadable = (message: string, what: string) => {
  expect(message.length, `${what}: ${message.slice(0, 400)}`).toBeLessThan(maxMessageLength)
  expect(message, what).not.toMatch(schemaInternals)
}

export const huge = "x".repeat(10_000)

/** Values wrong for some field or other: types, shapes, sizes, signs, enums, names. */
export const badValues: ReadonlyArray<unknown> = [
  5, -1, 1.5, true, null, [], [1, 2], ["ok", 3], {}, { a: 1 }, "", "has space", "bogus", "-3", "ünïcode", huge
]
