import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { type ChannelSummary, client, type Client, expectError, ISO_UTC, type Message, type MessagesPage, ok, quietConfig, sleep, within } from "./client.js"

describe("channels", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client

  const send = async (channel: string, data: unknown, options: { headers?: Record<string, string>; query?: string } = {}) =>
    ok(
      await c.post<Message>(`/channels/${channel}/send${options.query ?? ""}`, data, { headers: options.headers ?? {} }),
      [200, 201]
    )
  const read = async (channel: string, query = "") => ok(await c.get<MessagesPage>(`/channels/${channel}/messages${query}`))

  it("send answers the stored message; the body is the message", async () => {
    const data = { status: "green", tests: 42, list: [1, "two", null], nested: { ok: true } }
    const msg = await send("results", data)
    expect(msg).toEqual({ id: 1, channel: "results", from: null, at: expect.stringMatching(ISO_UTC), data })
  })

  it("accepts any JSON value as the body", async () => {
    const values: Array<unknown> = [{ a: 1 }, [1, 2, 3], "just a string", 12.5, true, { deep: { er: [{}] } }]
    for (const v of values) await send("anything", v)
    const page = await read("anything")
    expect(page.messages.map((m) => m.data)).toEqual(values)
  })

  it("ids count from 1 per channel", async () => {
    expect((await send("a", { n: 1 })).id).toBe(1)
    expect((await send("a", { n: 2 })).id).toBe(2)
    expect((await send("b", { n: 1 })).id).toBe(1)
    expect((await send("a", { n: 3 })).id).toBe(3)
    expect((await send("b", { n: 2 })).id).toBe(2)
  })

  it("the sender may name itself with X-Peer-Id or ?from=", async () => {
    const byHeader = await send("results", { x: 1 }, { headers: { "X-Peer-Id": "backend-1" } })
    expect(byHeader.from).toBe("backend-1")
    const byQuery = await send("results", { x: 2 }, { query: "?from=frontend-2" })
    expect(byQuery.from).toBe("frontend-2")
    const page = await read("results")
    expect(page.messages.map((m) => m.from)).toEqual(["backend-1", "frontend-2"])
  })

  it("messages are oldest first, only ids > since, with lastId", async () => {
    for (let i = 1; i <= 5; i++) await send("log", { i })
    const all = await read("log")
    expect(all.channel).toBe("log")
    expect(all.messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5])
    expect(all.messages.map((m) => m.data)).toEqual([1, 2, 3, 4, 5].map((i) => ({ i })))
    expect(all.messages.every((m) => m.channel === "log" && ISO_UTC.test(m.at))).toBe(true)
    expect(all.lastId).toBe(5)

    const newer = await read("log", "?since=3")
    expect(newer.messages.map((m) => m.id)).toEqual([4, 5])
    expect(newer.lastId).toBe(5)

    const none = await read("log", "?since=5")
    expect(none.messages).toEqual([])
  })

  it("limit caps the page, oldest first", async () => {
    for (let i = 1; i <= 5; i++) await send("paged", { i })
    const page = await read("paged", "?limit=2")
    expect(page.messages.map((m) => m.id)).toEqual([1, 2])
    const next = await read("paged", `?since=${page.messages[1]?.id}&limit=2`)
    expect(next.messages.map((m) => m.id)).toEqual([3, 4])
  })

  it("limit defaults to 100", async () => {
    for (let i = 1; i <= 105; i++) await send("busy", i)
    const page = await read("busy")
    expect(page.messages).toHaveLength(100)
    expect(page.messages[0]?.id).toBe(1)
    expect(page.messages[99]?.id).toBe(100)
    const rest = await read("busy", "?since=100")
    expect(rest.messages.map((m) => m.id)).toEqual([101, 102, 103, 104, 105])
    expect(rest.lastId).toBe(105)
  }, 30_000)

  it("an unknown channel reads as an empty list, not an error", async () => {
    const page = await read("never-used")
    expect(page).toEqual({ channel: "never-used", messages: [], firstId: 1, lastId: 0 })
  })

  it("a reader waiting with a timeout gets a message sent after it started", async () => {
    await send("live", { before: true })
    const waiting = read("live", "?since=1&timeout=10000")
    await sleep(100)
    await send("live", { after: true }, { headers: { "X-Peer-Id": "writer" } })
    const page = await within(waiting, 15_000, "channel long-poll")
    expect(page.messages).toHaveLength(1)
    expect(page.messages[0]).toMatchObject({ id: 2, from: "writer", data: { after: true } })
    expect(page.lastId).toBe(2)
  })

  it("a reader waiting on a channel that does not exist yet gets its first message", async () => {
    const waiting = read("brand-new", "?timeout=10000")
    await sleep(100)
    await send("brand-new", "hello")
    const page = await within(waiting, 15_000, "long-poll on a new channel")
    expect(page.messages.map((m) => [m.id, m.data])).toEqual([[1, "hello"]])
  })

  it("a waiting reader is not woken by other channels", async () => {
    const waiting = read("quiet", "?timeout=300")
    await sleep(50)
    await send("noisy", { x: 1 })
    const page = await within(waiting, 10_000, "long-poll timeout")
    expect(page).toMatchObject({ channel: "quiet", messages: [], lastId: 0 })
  })

  it("with a timeout and newer messages already there, answers at once", async () => {
    await send("ready", 1)
    const page = await within(read("ready", "?since=0&timeout=60000"), 10_000, "read with data available")
    expect(page.messages.map((m) => m.data)).toEqual([1])
  })

  it("a read that times out answers an empty page", async () => {
    await send("stale", 1)
    const page = await within(read("stale", "?since=1&timeout=200"), 10_000, "read timeout")
    expect(page.messages).toEqual([])
    expect(page.channel).toBe("stale")
  })

  it("GET /channels lists each channel with count, lastId and lastAt", async () => {
    expect(ok(await c.get("/channels"))).toEqual({ channels: [] })
    await send("alpha", 1)
    await send("alpha", 2)
    const last = await send("alpha", 3)
    const beta = await send("beta", "x")
    const { channels } = ok(await c.get<{ channels: Array<ChannelSummary> }>("/channels"))
    const byName = Object.fromEntries(channels.map((ch) => [ch.name, ch]))
    expect(Object.keys(byName).sort()).toEqual(["alpha", "beta"])
    expect(byName.alpha).toEqual({ name: "alpha", count: 3, firstId: 1, lastId: 3, lastAt: last.at })
    expect(byName.beta).toEqual({ name: "beta", count: 1, firstId: 1, lastId: 1, lastAt: beta.at })
  })

  it("accepts names with dots, colons, dashes and underscores, up to 64 characters", async () => {
    const names = ["build.results", "team:backend", "a-b_c", "x".repeat(64), "9lives"]
    for (const name of names) {
      const msg = await send(name, { name })
      expect(msg.channel).toBe(name)
      expect((await read(name)).messages.map((m) => m.data)).toEqual([{ name }])
    }
  })
})
