import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { connect, expectError, logHead, ok, quietConfig, sendCommand, waitCommand } from "./client.js"

// One broker for the file: no test here needs what another left out of the log.
const c = useBroker({ config: quietConfig }).client

/** A REST caller that names itself as a peer acts only as that peer. */
describe("peer identity on the REST API", () => {

  it("refuses to let one peer wait for another peer's commands", async () => {
    const alice = await connect(c, { role: "alice-role" })
    const bob = await connect(c, { role: "bob-role" })
    const res = await c.get(`/commands/${alice.id}/wait?timeout=0`, { headers: { "x-peer-id": bob.id } })
    expectError(res, 403, "forbidden")
    // Naming yourself is fine.
    const own = await c.get(`/commands/${alice.id}/wait?timeout=0`, { headers: { "x-peer-id": alice.id } })
    expect(ok(own)).toMatchObject({ command: null, timedOut: true })
  })

  it("refuses an ack or a cancel by a peer that does not hold the command, and records nothing", async () => {
    const holder = await connect(c, { role: "holder" })
    const other = await connect(c, { role: "other" })
    const sent = await sendCommand(c, { target: "holder", action: "work", from: "boss" })
    expect((await waitCommand(c, holder.id, 5000)).command?.id).toBe(sent.id)
    const head = await logHead(c)

    const viaHeader = await c.post(`/commands/${sent.id}/ack`, { result: 1 }, { headers: { "x-peer-id": other.id } })
    expect(expectError(viaHeader, 403, "forbidden").error.message).toContain(holder.id)
    expectError(await c.post(`/commands/${sent.id}/ack`, { result: 1, from: other.id }), 403, "forbidden")
    expectError(await c.post(`/commands/${sent.id}/cancel`, {}, { headers: { "x-peer-id": other.id } }), 403, "forbidden")
    expect(await logHead(c)).toBe(head)

    // The sender may cancel what it sent; the holder may ack what it holds.
    const second = await sendCommand(c, { target: "holder", action: "more", from: "boss" })
    expect((await waitCommand(c, holder.id, 5000)).command?.id).toBe(second.id)
    expect(ok(await c.post(`/commands/${second.id}/cancel`, { from: "boss" })).status).toBe("cancelled")
    const acked = ok(await c.post(`/commands/${sent.id}/ack`, { result: 2 }, { headers: { "x-peer-id": holder.id } }))
    expect(acked).toMatchObject({ status: "acked", result: 2 })
  })
})

describe("reserved peer ids", () => {
  it("refuses the id 'discover', which GET /peers/discover would shadow, and records nothing", async () => {
    const head = await logHead(c)
    expectError(await c.post("/peers/connect", { role: "x", id: "discover" }), 400, "bad_request")
    expect(await logHead(c)).toBe(head)
  })
})
