import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { client, connect, ok, quietConfig, sendCommand, waitCommand, waitFor } from "./client.js"

/**
 * The REST routes run on the transport's own path (src/http/transport.ts), not the platform's
 * router: what the router used to give them for free is held here.
 */
describe("the REST transport", () => {
  const broker = useBroker({ config: quietConfig })
  const c = broker.client

  it("answers HEAD like GET, without a body", async () => {
    const res = await fetch(`${broker.url}/peers`, { method: "HEAD" })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/json")
    expect(await res.text()).toBe("")
  })

  it("ignores a trailing slash, as the router does", async () => {
    ok(await c.post("/channels/slash/send", { n: 1 }))
    expect(ok(await c.get("/channels/slash/messages/"))).toMatchObject({ channel: "slash", lastId: 1 })
  })

  it("decodes percent-encoded path parameters, and refuses names that decode to something invalid", async () => {
    ok(await c.post("/signals/go%2Dgo", { data: 1 }))
    expect(ok(await c.get("/signals/go-go"))).toMatchObject({ name: "go-go", fired: true })
    const bad = await c.get("/signals/a%20b")
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toContain("path parameter 'name'")
    expect((await c.get("/signals/%E0%A4%A")).status).toBe(400)
  })

  it("a command wait whose client goes away claims nothing: the next wait gets the command", async () => {
    const peer = await connect(c, { role: "leaver" })
    const aborts = new AbortController()
    const parked = fetch(`${broker.url}/commands/${peer.id}/wait?timeout=60000`, { signal: aborts.signal }).catch(() => "aborted")
    await waitFor(() => (broker.broker.activeWaits(peer.id) === 1 ? true : undefined), { what: "the wait to park" })
    aborts.abort()
    expect(await parked).toBe("aborted")
    await waitFor(() => (broker.broker.activeWaits(peer.id) === 0 ? true : undefined), { what: "the wait to end" })
    const command = await sendCommand(c, { target: peer.id, action: "after-abort" })
    const taken = await waitCommand(c, peer.id, 5_000)
    expect(taken.command).toMatchObject({ id: command.id, status: "delivered", deliveredTo: peer.id })
  })
})
