/**
 * Errors for people: a corpus of bad input over every REST route —
 * wrong types, missing fields, arrays, huge strings, bad enums, negative numbers, invalid names in
 * paths and headers — and every refusal's message is under 300 characters and free of schema
 * internals ("Expected Struct", "Encoded side", "{ readonly …"). A few sentences are held exactly,
 * to show what a refusal reads like. test/mcp/argument-errors.test.ts does the same for the tools.
 */
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { routes, type RouteSpec } from "../../src/http/routes.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { client, quietConfig } from "./client.js"
import { badValues, expectReadable, huge } from "./readable.js"

/** As query parameters: what a URL can carry. */
const badQueryValues = ["-1", "abc", "NaN", "1.5", "1e999x", "bogus", "", "9".repeat(400), huge]
const badNames = ["has space", "-dash", "../x", "ünïcode", "a".repeat(65), huge]

interface Sent {
  readonly what: string
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

const fieldsOf = (schema: Schema.Schema.Any | undefined): Array<string> =>
  schema && "fields" in schema ? Object.keys((schema as unknown as Schema.Struct<Schema.Struct.Fields>).fields) : []

const served = routes.filter((route) => route.describedIn === undefined)

/** Every route with good path parameters but for the one under test. */
const pathWith = (route: RouteSpec, bad?: { readonly param: string; readonly value: string }) =>
  route.path.replace(/:(\w+)/g, (_, param: string) => encodeURIComponent(bad?.param === param ? bad.value : "x1"))

/** Waits answer at once: `timeout=0` unless the timeout is what is under test. */
const withQuery = (path: string, query: Record<string, string>) => {
  const params = new URLSearchParams({ timeout: "0", ...query })
  return `${path}?${params}`
}

const corpus = (): Array<Sent> => {
  const sent: Array<Sent> = []
  for (const route of served) {
    const name = `${route.method} ${route.path}`
    const at = (what: string, extra: Omit<Sent, "what" | "method">) => sent.push({ what: `${name}: ${what}`, method: route.method, ...extra })
    for (const param of route.path.match(/:(\w+)/g)?.map((p) => p.slice(1)) ?? []) {
      for (const value of badNames) at(`path ${param}=${value.slice(0, 20)}`, { path: withQuery(pathWith(route, { param, value }), {}) })
    }
    const queryFields = fieldsOf(route.query)
    for (const field of queryFields) {
      for (const value of badQueryValues) at(`?${field}=${value.slice(0, 20)}`, { path: withQuery(pathWith(route), { [field]: value }) })
      at(`?${field} twice`, { path: `${withQuery(pathWith(route), {})}&${field}=1&${field}=2` })
    }
    // (Node refuses request heads beyond 16 KB itself, before the broker sees them.)
    if (queryFields.length > 1) {
      at("every query parameter wrong", { path: withQuery(pathWith(route), Object.fromEntries(queryFields.map((f) => [f, huge.slice(0, 2_000)]))) })
    }
    if (route.headers && fieldsOf(route.headers).includes("X-Peer-Id")) {
      for (const value of badNames) at(`X-Peer-Id ${value.slice(0, 20)}`, { path: withQuery(pathWith(route), {}), headers: { "x-peer-id": value } })
    }
    if (route.headers && fieldsOf(route.headers).includes("Last-Event-ID")) {
      for (const value of badQueryValues) at(`Last-Event-ID ${value.slice(0, 20)}`, { path: pathWith(route), headers: { "last-event-id": value } })
    }
    if (route.body) {
      const bodyFields = fieldsOf(route.body.schema)
      const bodies: Array<[string, unknown]> = [
        ...badValues.map((value): [string, unknown] => [`body ${JSON.stringify(value).slice(0, 20)}`, value]),
        ...bodyFields.flatMap((field) => badValues.map((value): [string, unknown] => [`${field}=${JSON.stringify(value).slice(0, 20)}`, { [field]: value }])),
        ...(bodyFields.length > 0 ? [["every field huge", Object.fromEntries(bodyFields.map((f) => [f, huge]))] as [string, unknown]] : []),
        ...(bodyFields.length > 0 ? [["every field a list", Object.fromEntries(bodyFields.map((f) => [f, [huge, 1]]))] as [string, unknown]] : [])
      ]
      for (const [what, body] of bodies) at(what, { path: withQuery(pathWith(route), {}), body: JSON.stringify(body) })
      at("malformed JSON", { path: pathWith(route), body: `{"a": "${huge}` })
      at("JSON nested too deep", { path: pathWith(route), body: "[".repeat(300) + "]".repeat(300) })
    }
  }
  sent.push({ what: "unknown route with a huge path", method: "GET", path: `/nope/${huge}` })
  return sent
}

describe("errors for people", () => {
  let broker: TestBroker

  beforeAll(async () => {
    // Every wait clamped to a moment: a request the corpus gets right answers at once.
    broker = await startBroker({ config: { ...quietConfig, maxWaitMs: 50 } })
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("REST: every 4xx over a corpus of bad input on every route is short and in plain words", async () => {
    const refusals = new Map<number, number>()
    for (const request of corpus()) {
      const res = await fetch(`${broker.url}${request.path}`, {
        method: request.method,
        headers: { ...(request.body === undefined ? {} : { "content-type": "application/json" }), ...request.headers },
        ...(request.body === undefined ? {} : { body: request.body })
      })
      expect(res.status, request.what).toBeLessThan(500)
      if (res.status < 400) {
        // Not refused (an event stream, even): nothing to read.
        await res.body?.cancel()
        continue
      }
      const text = await res.text()
      refusals.set(res.status, (refusals.get(res.status) ?? 0) + 1)
      expect(text, `${request.what}: ${res.status} without a body`).not.toBe("")
      const { error } = JSON.parse(text) as { error: { code: string; message: string } }
      expectReadable(error.message, request.what)
    }
    // The corpus is refused for its input, not for something else.
    expect(refusals.get(400)).toBeGreaterThan(500)
  }, 120_000)

  it("REST: a refusal says which field, what it should be, and a short preview of what was sent", async () => {
    const c = client(broker.url)
    const message = async (res: Promise<{ body: { error: { message: string } } }>) => (await res).body.error.message
    expect(await message(c.post("/commands/send", { target: "backend", action: "x", ttlMs: "soon" }))).toBe(
      'invalid body: ttlMs must be a whole number of milliseconds, 1 or more, or null (got "soon").'
    )
    expect(await message(c.post("/peers/connect", [1, 2]))).toBe("body must be a JSON object (got [1,2]).")
    expect(await message(c.post("/peers/connect", {}))).toBe("invalid body: role is required.")
    expect(await message(c.get("/commands?status=bogus"))).toBe(
      'invalid query: status must be one of pending, delivered, acked, failed, expired, cancelled, dead, held, rejected (got "bogus").'
    )
    expect(await message(c.get(`/peers/${"a".repeat(10_000)}`))).toBe(
      `path parameter 'id' must be 1–64 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit (got "${"a".repeat(39)}…).`
    )
    const many = await message(c.post("/peers/connect", { role: huge, capabilities: huge, name: huge, id: huge }))
    expect(many).toMatch(/^invalid body: role must be .* \(got "x{39}…\)\. And 3 more fields\.$/)
  })
})
