import { describe, expect, it } from "vitest"
import { newRegistration, observe, renewal } from "../../src/bridge/registration.js"

/** What the stdio bridge remembers of its peer, and what it asks of a broker that lost it. */
describe("the bridge's registration", () => {
  it("starts from the flags and renews a peer the broker lost, with its subscriptions", () => {
    const registration = newRegistration({ role: "backend", capabilities: ["build"], label: "repo a", subscribe: ["builds"] })
    expect(renewal(registration, { connected: false })).toEqual([
      { name: "connect", arguments: { role: "backend", capabilities: ["build"], name: "repo a" } },
      { name: "subscribe", arguments: { channel: "builds" } }
    ])
    expect(renewal(registration, { connected: true, following: { channels: [{ channel: "builds" }], signals: [] } })).toEqual([])
  })

  it("learns the role the model chose, and what it subscribed to; forgets on disconnect", () => {
    const registration = newRegistration({})
    observe(registration, { name: "connect", arguments: {} }, { structuredContent: { connected: false } })
    expect(registration.role).toBeUndefined()
    observe(
      registration,
      { name: "connect", arguments: { role: "tester" } },
      { structuredContent: { you: { role: "tester", capabilities: ["e2e"], name: null } } }
    )
    expect(registration).toMatchObject({ role: "tester", capabilities: ["e2e"], label: undefined })
    observe(registration, { name: "subscribe", arguments: { signal: "go", channel: "news" } }, { structuredContent: {} })
    observe(registration, { name: "subscribe", arguments: { channel: "other" } }, { isError: true, structuredContent: {} })
    expect([...registration.channels]).toEqual(["news"])
    expect(renewal(registration, { connected: true, following: { channels: [{ channel: "news" }] } })).toEqual([
      { name: "subscribe", arguments: { signal: "go" } }
    ])
    observe(registration, { name: "unsubscribe", arguments: { channel: "news" } }, { structuredContent: {} })
    observe(registration, { name: "disconnect", arguments: {} }, { structuredContent: {} })
    expect(registration.role).toBeUndefined()
    expect(renewal(registration, { connected: false })).toEqual([{ name: "subscribe", arguments: { signal: "go" } }])
  })
})
