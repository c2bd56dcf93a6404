import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { ISO_UTC, ok, quietConfig, type Signal, sleep, within } from "./client.js"

interface SignalWait {
  signal: Signal
  timedOut: boolean
}

describe("signals", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client

  const fire = async (name: string, data: unknown, headers: Record<string, string> = {}) =>
    ok(await c.post<Signal>(`/signals/${name}`, { data }, { headers }), [200, 201])
  const get = async (name: string) => ok(await c.get<Signal>(`/signals/${name}`))
  const wait = (name: string, timeoutMs: number) =>
    c.get<SignalWait>(`/signals/${name}/wait?timeout=${timeoutMs}`).then((r) => ok(r))

  it("a signal never fired reads as not fired, which is not an error", async () => {
    expect(await get("db-ready")).toMatchObject({ name: "db-ready", fired: false, count: 0, data: null })
  })

  it("fire answers the Signal", async () => {
    const s = await fire("db-ready", { url: "postgres://localhost/app" })
    expect(s).toMatchObject({
      name: "db-ready",
      fired: true,
      data: { url: "postgres://localhost/app" },
      firedAt: expect.stringMatching(ISO_UTC),
      count: 1
    })
    expect(s).toHaveProperty("firedBy")
    expect(await get("db-ready")).toEqual(s)
  })

  it("firing again updates data and increments count", async () => {
    await fire("build", { rev: 1 })
    const second = await fire("build", { rev: 2 })
    expect(second).toMatchObject({ fired: true, data: { rev: 2 }, count: 2 })
    const third = await fire("build", [3])
    expect(third).toMatchObject({ fired: true, data: [3], count: 3 })
    expect(await get("build")).toMatchObject({ data: [3], count: 3 })
  })

  it("wait answers at once when the signal has already fired", async () => {
    await fire("ready", "yes")
    const res = await within(wait("ready", 60_000), 10_000, "wait on a fired signal")
    expect(res.timedOut).toBe(false)
    expect(res.signal).toMatchObject({ name: "ready", fired: true, data: "yes", count: 1 })
  })

  it("wait times out on a signal that does not fire", async () => {
    const res = await within(wait("never", 200), 10_000, "signal wait timeout")
    expect(res.timedOut).toBe(true)
    expect(res.signal).toMatchObject({ name: "never", fired: false, count: 0 })
  })

  it("one fire releases several concurrent waiters", async () => {
    const waiters = [0, 1, 2, 3, 4].map(() => wait("go", 10_000))
    await sleep(150)
    await fire("go", { at: "now" })
    const results = await within(Promise.all(waiters), 15_000, "signal waiters")
    for (const r of results) {
      expect(r.timedOut).toBe(false)
      expect(r.signal).toMatchObject({ name: "go", fired: true, data: { at: "now" }, count: 1 })
    }
  })

  it("waiters on one signal are not released by another", async () => {
    const waiting = wait("mine", 300)
    await sleep(50)
    await fire("theirs", 1)
    const res = await within(waiting, 10_000, "unrelated fire")
    expect(res.timedOut).toBe(true)
    expect(res.signal.fired).toBe(false)
  })

  it("DELETE re-arms the signal; the next wait blocks until the next fire", async () => {
    await fire("phase", 1)
    const cleared = await c.del<Signal>("/signals/phase")
    ok(cleared, [200, 204])
    if (cleared.status === 200) expect(cleared.body).toMatchObject({ name: "phase", fired: false })
    expect((await get("phase")).fired).toBe(false)

    expect((await within(wait("phase", 200), 10_000, "re-armed wait")).timedOut).toBe(true)

    const waiting = wait("phase", 10_000)
    await sleep(100)
    const again = await fire("phase", 2)
    expect(again).toMatchObject({ fired: true, data: 2 })
    const res = await within(waiting, 15_000, "wait after re-arm")
    expect(res).toMatchObject({ timedOut: false, signal: { name: "phase", fired: true, data: 2 } })
  })

  it("GET /signals lists the signals", async () => {
    expect(ok(await c.get("/signals"))).toEqual({ signals: [] })
    await fire("one", 1)
    await fire("two", 2)
    await fire("two", 22)
    const { signals } = ok(await c.get<{ signals: Array<Signal> }>("/signals"))
    const byName = Object.fromEntries(signals.map((s) => [s.name, s]))
    expect(Object.keys(byName).sort()).toEqual(["one", "two"])
    expect(byName.one).toMatchObject({ fired: true, data: 1, count: 1 })
    expect(byName.two).toMatchObject({ fired: true, data: 22, count: 2 })
  })
})
