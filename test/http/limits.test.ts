import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { client, connect, expectError, logHead, ok, quietConfig, waitFor } from "./client.js"

/** Bounds that keep slow or hostile clients from parking without limit. */
describe("limits on parked waits and streams", () => {
  const broker = useBroker({ config: { ...quietConfig, maxWaits: 4, maxWaitsPerPeer: 2, maxSubscribers: 1 } })
  const c = broker.client

  it("refuses a peer's third parked command wait, and any wait past the total, with 429", async () => {
    const peer = await connect(c, { role: "busy" })
    const aborts = new AbortController()
    const park = (path: string) => fetch(`${broker.url}${path}`, { signal: aborts.signal }).catch(() => undefined)
    void park(`/commands/${peer.id}/wait?timeout=60000`)
    void park(`/commands/${peer.id}/wait?timeout=60000`)
    await waitFor(async () => {
      const res = await c.get(`/commands/${peer.id}/wait?timeout=100`)
      return res.status === 429 ? res : undefined
    }, { what: "a third wait of the same peer to be refused" }).then((res) => expectError(res, 429, "too_many_waits"))
    // Waits that do not park are never refused.
    expect(ok(await c.get(`/commands/${peer.id}/wait?timeout=0`))).toMatchObject({ command: null, timedOut: true })

    void park(`/signals/never/wait?timeout=60000`)
    void park(`/channels/quiet/messages?timeout=60000`)
    const head = await logHead(c)
    await waitFor(async () => {
      const res = await c.get(`/signals/other/wait?timeout=100`)
      return res.status === 429 ? res : undefined
    }, { what: "a wait past the total to be refused" }).then((res) => expectError(res, 429, "too_many_waits"))
    expect(await logHead(c)).toBe(head)

    aborts.abort()
    await waitFor(async () => {
      const res = await c.get(`/signals/other/wait?timeout=50`)
      return res.status === 200 ? res : undefined
    }, { what: "waits to be admitted again once the parked ones left" })
  })

  it("refuses an event stream past the limit with 429, and admits one again when a client leaves", async () => {
    const first = new AbortController()
    const open = await fetch(`${broker.url}/events`, { signal: first.signal })
    expect(open.status).toBe(200)
    await open.body!.getReader().read()
    expectError(await c.get("/events"), 429, "too_many_waits")
    first.abort()
    await waitFor(async () => {
      const aborts = new AbortController()
      const res = await fetch(`${broker.url}/events`, { signal: aborts.signal })
      aborts.abort()
      return res.status === 200 ? res : undefined
    }, { what: "a stream to be admitted again" })
  })
})
