import { beforeEach, describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { ack, type Client, client, type Command, connect, expectError, ISO_UTC, type LogEvent, logHead, type MessagesPage, ok, openSse, type Peer, quietConfig, sendCommand, type Signal, waitCommand, within } from "./client.js"

interface Status {
  peers: Array<Peer>
  commands: Array<Command>
  channels: Array<{ name: string; count: number; lastId: number }>
  signals: Array<Signal>
  log: { head: number; backend: string }
  startedAt: string
  version: string
}

const parseNdjson = (text: string): Array<LogEvent> =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LogEvent)

describe("system", () => {
  const broker = useBroker({ config: quietConfig })
  const c = broker.client

  const status = async (query = "") => ok(await c.get<Status>(`/status${query}`))
  const stateOf = (s: Status) => ({ peers: s.peers, commands: s.commands, channels: s.channels, signals: s.signals })

  describe("basics", () => {
    it("GET /healthz is 200", async () => {
      const res = await fetch(`${broker.url}/healthz`)
      expect(res.status).toBe(200)
      await res.body?.cancel()
    })

    it("GET /dashboard is an HTML page", async () => {
      const res = await fetch(`${broker.url}/dashboard`)
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type") ?? "").toMatch(/^text\/html/)
      expect((await res.text()).toLowerCase()).toContain("<html")
    })

    it("GET / redirects to /dashboard", async () => {
      const res = await fetch(`${broker.url}/`, { redirect: "manual" })
      expect([301, 302, 303, 307, 308]).toContain(res.status)
      const location = res.headers.get("location") ?? ""
      expect(new URL(location, broker.url).pathname).toBe("/dashboard")
      await res.body?.cancel()
    })

    it("unknown routes are a JSON 404", async () => {
      expectError(await c.get("/no/such/route"), 404, "not_found")
      expectError(await c.post("/peers/connect/extra", { role: "x" }), 404, "not_found")
    })
  })

  describe("status", () => {
    beforeEach(async () => {
      ok(await c.post("/reset"))
    })

    it("reports the current state, the log head and backend, startedAt and version", async () => {
      const peer = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "start" })
      ok(await c.post("/channels/results/send", { ok: true }), [200, 201])
      ok(await c.post("/signals/ready", { data: 1 }), [200, 201])

      const s = await status()
      expect(s.log.backend).toBe("memory")
      expect(Number.isInteger(s.log.head)).toBe(true)
      expect(s.log.head).toBeGreaterThanOrEqual(5)
      expect(s.startedAt).toMatch(ISO_UTC)
      expect(typeof s.version).toBe("string")
      expect(s.version.length).toBeGreaterThan(0)

      expect(s.peers.map((p) => p.id)).toEqual([peer.id])
      expect(s.commands.map((x) => [x.id, x.status])).toEqual([[cmd.id, "pending"]])
      expect(s.channels.map((ch) => [ch.name, ch.count, ch.lastId])).toEqual([["results", 1, 1]])
      expect(s.signals.map((sig) => [sig.name, sig.fired, sig.count])).toEqual([["ready", true, 1]])
    })

    it("each accepted write appends to the log", async () => {
      const h0 = await logHead(c)
      await connect(c, { role: "backend" })
      const h1 = await logHead(c)
      expect(h1).toBe(h0 + 1)
      ok(await c.post("/channels/x/send", 1), [200, 201])
      expect(await logHead(c)).toBe(h1 + 1)
      // Reads do not append.
      await c.get("/peers")
      await c.get("/channels/x/messages")
      await c.get("/signals/nothing")
      await c.get("/commands")
      expect(await logHead(c)).toBe(h1 + 1)
    })
  })

  describe("time travel", () => {
    beforeEach(async () => {
      ok(await c.post("/reset"))
    })

    it("GET /status?at=<seq> shows the state right after that event", async () => {
      const a = await connect(c, { role: "backend", capabilities: ["tcp"] })
      ok(await c.post("/channels/results/send", { n: 1 }), [200, 201])
      ok(await c.post("/signals/s1", { data: "first" }), [200, 201])
      const then = await status()
      const oldHead = then.log.head

      // More happens.
      const b = await connect(c, { role: "frontend" })
      ok(await c.post(`/peers/${a.id}/disconnect`))
      ok(await c.post("/channels/results/send", { n: 2 }), [200, 201])
      ok(await c.post("/channels/other/send", { n: 1 }), [200, 201])
      ok(await c.post("/signals/s1", { data: "second" }), [200, 201])
      ok(await c.post("/signals/s2", { data: "new" }), [200, 201])
      const cmd = await sendCommand(c, { target: "frontend", action: "render" })
      await waitCommand(c, b.id, 1_000)
      await ack(c, cmd.id, { result: "rendered" })
      const now = await status()
      expect(now.log.head).toBeGreaterThan(oldHead)

      const past = await status(`?at=${oldHead}`)
      expect(stateOf(past)).toEqual(stateOf(then))
      expect(past.peers).toHaveLength(1)
      expect(past.peers[0]).toMatchObject({ id: a.id, status: "online" })
      expect(past.commands).toEqual([])
      expect(past.channels.map((ch) => [ch.name, ch.count])).toEqual([["results", 1]])
      expect(past.signals.map((s) => [s.name, s.data, s.count])).toEqual([["s1", "first", 1]])

      // ?at=<head> is the present.
      expect(stateOf(await status(`?at=${now.log.head}`))).toEqual(stateOf(now))
    })

    it("every intermediate seq is addressable", async () => {
      const start = await logHead(c)
      await connect(c, { role: "a" })
      await connect(c, { role: "b" })
      await connect(c, { role: "c" })
      const counts: Array<number> = []
      for (let seq = start; seq <= start + 3; seq++) counts.push((await status(`?at=${seq}`)).peers.length)
      expect(counts).toEqual([0, 1, 2, 3])
    })

    it("?at beyond the head is 400, and so is a non-numeric or negative seq", async () => {
      const head = await logHead(c)
      expectError(await c.get(`/status?at=${head + 1}`), 400, "bad_request")
      expectError(await c.get(`/status?at=${head + 1000}`), 400, "bad_request")
      expectError(await c.get("/status?at=abc"), 400, "bad_request")
      expectError(await c.get("/status?at=-1"), 400, "bad_request")
      expect(await logHead(c)).toBe(head)
    })
  })

  describe("reset", () => {
    it("clears peers, commands, channels and signals, is itself an event, and keeps history", async () => {
      ok(await c.post("/reset"))
      const peer = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "x" })
      ok(await c.post("/channels/results/send", { n: 1 }), [200, 201])
      ok(await c.post("/signals/ready", { data: true }), [200, 201])
      const before = await status()

      ok(await c.post("/reset"))
      const after = await status()
      expect(after.log.head).toBe(before.log.head + 1)
      expect(stateOf(after)).toEqual({ peers: [], commands: [], channels: [], signals: [] })

      const log = parseNdjson(await (await fetch(`${broker.url}/log?from=${after.log.head}`)).text())
      expect(log.map((e) => e.type)).toEqual(["broker.reset"])

      expect(ok(await c.get("/peers"))).toEqual({ peers: [] })
      expect(ok(await c.get("/commands"))).toEqual({ commands: [] })
      expect(ok(await c.get("/channels"))).toEqual({ channels: [] })
      expect(ok(await c.get("/signals"))).toEqual({ signals: [] })
      expect(ok(await c.get<MessagesPage>("/channels/results/messages"))).toEqual({
        channel: "results",
        messages: [],
        firstId: 1,
        lastId: 0
      })
      expect(ok(await c.get<Signal>("/signals/ready"))).toMatchObject({ fired: false, count: 0, data: null })
      expectError(await c.post(`/peers/${peer.id}/heartbeat`), 404, "not_found")
      expectError(await c.get(`/commands/${cmd.id}/result?timeout=0`), 404, "not_found")

      // A cleared channel counts from 1 again.
      expect(ok(await c.post<{ id: number }>("/channels/results/send", { n: 2 }), [200, 201]).id).toBe(1)

      // The past is still there.
      expect(stateOf(await status(`?at=${before.log.head}`))).toEqual(stateOf(before))
    })
  })

  describe("NDJSON log export", () => {
    it("exports every event, one per line, seq dense from 1", async () => {
      await connect(c, { role: "exporter" })
      const head = await logHead(c)
      const res = await fetch(`${broker.url}/log`)
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type") ?? "").toMatch(/^application\/x-ndjson/)
      const text = await res.text()
      expect(text.endsWith("\n")).toBe(true)
      const events = parseNdjson(text)
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1))
      let lastAt = 0
      for (const e of events) {
        expect(Object.keys(e).sort()).toEqual(["at", "data", "seq", "type"])
        expect(e.at).toMatch(ISO_UTC)
        expect(Date.parse(e.at)).toBeGreaterThanOrEqual(lastAt)
        lastAt = Date.parse(e.at)
        expect(typeof e.type).toBe("string")
        expect(typeof e.data).toBe("object")
      }
    })

    it("records what the requests did, and honours from and to (inclusive)", async () => {
      const h0 = await logHead(c)
      const peer = await connect(c, { role: "logger" })
      ok(await c.post("/channels/logged/send", { hello: "world" }, { headers: { "X-Peer-Id": peer.id } }), [200, 201])
      ok(await c.post("/signals/logged", { data: 7 }), [200, 201])

      const events = parseNdjson(await (await fetch(`${broker.url}/log?from=${h0 + 1}`)).text())
      expect(events.map((e) => [e.seq, e.type])).toEqual([
        [h0 + 1, "peer.connected"],
        [h0 + 2, "message.sent"],
        [h0 + 3, "signal.fired"]
      ])
      expect(events[0]?.data).toMatchObject({ peerId: peer.id, role: "logger" })
      expect(events[1]?.data).toMatchObject({ channel: "logged", from: peer.id, message: { hello: "world" } })
      expect(events[2]?.data).toMatchObject({ name: "logged", data: 7 })

      const middle = parseNdjson(await (await fetch(`${broker.url}/log?from=${h0 + 2}&to=${h0 + 2}`)).text())
      expect(middle.map((e) => e.seq)).toEqual([h0 + 2])
      const firstTwo = parseNdjson(await (await fetch(`${broker.url}/log?from=${h0 + 1}&to=${h0 + 2}`)).text())
      expect(firstTwo.map((e) => e.type)).toEqual(["peer.connected", "message.sent"])
    })
  })

  describe("SSE /events", () => {
    it("streams one frame per event from ?from=, then live events", async () => {
      await connect(c, { role: "streamer" })
      const head = await logHead(c)
      const exported = parseNdjson(await (await fetch(`${broker.url}/log`)).text())

      const sse = await openSse(`${broker.url}/events?from=1`)
      try {
        expect(sse.status).toBe(200)
        expect(sse.headers.get("content-type") ?? "").toMatch(/^text\/event-stream/)
        for (let seq = 1; seq <= head; seq++) {
          const frame = await sse.next()
          expect(frame.id).toBe(String(seq))
          const event = JSON.parse(frame.data) as LogEvent
          expect(frame.event).toBe(event.type)
          expect(event).toEqual(exported[seq - 1])
        }

        // Live: an event appended after the stream caught up.
        ok(await c.post("/signals/live", { data: "now" }), [200, 201])
        const live = await sse.next()
        expect(live.id).toBe(String(head + 1))
        expect(live.event).toBe("signal.fired")
        expect(JSON.parse(live.data)).toMatchObject({ seq: head + 1, type: "signal.fired", data: { name: "live" } })
      } finally {
        sse.close()
      }
    }, 20_000)

    it("starts at ?from=<seq> inclusive", async () => {
      await connect(c, { role: "streamer" })
      await connect(c, { role: "streamer" })
      const head = await logHead(c)
      const sse = await openSse(`${broker.url}/events?from=${head - 1}`)
      try {
        expect((await sse.next()).id).toBe(String(head - 1))
        expect((await sse.next()).id).toBe(String(head))
      } finally {
        sse.close()
      }
    })

    it("resumes after Last-Event-ID", async () => {
      await connect(c, { role: "resumer" })
      await connect(c, { role: "resumer" })
      await connect(c, { role: "resumer" })
      const head = await logHead(c)
      const sse = await openSse(`${broker.url}/events`, { "Last-Event-ID": String(head - 2) })
      try {
        const ids: Array<string | undefined> = []
        for (let i = 0; i < 2; i++) ids.push((await sse.next()).id)
        expect(ids).toEqual([String(head - 1), String(head)])
        ok(await c.post("/channels/resumed/send", { x: 1 }), [200, 201])
        const live = await sse.next()
        expect(live).toMatchObject({ id: String(head + 1), event: "message.sent" })
      } finally {
        sse.close()
      }
    })

    it("several subscribers each get every event", async () => {
      await connect(c, { role: "fanout" })
      const head = await logHead(c)
      // Start each stream at an existing event, so its first frame is there at once.
      const streams = await Promise.all([0, 1, 2].map(() => openSse(`${broker.url}/events?from=${head}`)))
      try {
        for (const sse of streams) expect((await sse.next()).id).toBe(String(head))
        await connect(c, { role: "fanout" })
        ok(await c.post("/signals/fanout", { data: null }), [200, 201])
        for (const sse of streams) {
          const first = await sse.next()
          const second = await sse.next()
          expect([first.id, first.event]).toEqual([String(head + 1), "peer.connected"])
          expect([second.id, second.event]).toEqual([String(head + 2), "signal.fired"])
        }
      } finally {
        for (const sse of streams) sse.close()
      }
    })
  })
})

describe("long-poll timeouts are clamped to maxWaitMs", () => {
  const broker = useBroker({ config: { ...quietConfig, maxWaitMs: 300 } })
  const c = broker.client

  it("a wait far above the maximum still answers (timed out) well before its own timeout", async () => {
    const peer = await connect(c, { role: "clamped" })
    const cmd = await sendCommand(c, { target: "nobody", action: "x" })
    const [commandWait, resultWait, signalWait, channelRead] = await within(
      Promise.all([
        waitCommand(c, peer.id, 600_000),
        c.get(`/commands/${cmd.id}/result?timeout=600000`).then((r) => ok(r)),
        c.get("/signals/never/wait?timeout=600000").then((r) => ok(r)),
        c.get("/channels/silent/messages?timeout=600000").then((r) => ok(r))
      ]),
      15_000,
      "clamped waits"
    )
    expect(commandWait).toEqual({ command: null, timedOut: true })
    expect(resultWait).toMatchObject({ timedOut: true, command: { id: cmd.id, status: "pending" } })
    expect(signalWait).toMatchObject({ timedOut: true, signal: { fired: false } })
    expect(channelRead).toMatchObject({ channel: "silent", messages: [], lastId: 0 })
  }, 20_000)

  it("timeout=0 answers at once everywhere", async () => {
    const peer = await connect(c, { role: "instant" })
    const cmd = await sendCommand(c, { target: "nobody", action: "x" })
    const results = await within(
      Promise.all([
        waitCommand(c, peer.id, 0),
        c.get(`/commands/${cmd.id}/result?timeout=0`).then((r) => ok(r)),
        c.get("/signals/never/wait?timeout=0").then((r) => ok(r)),
        c.get("/channels/silent/messages?timeout=0").then((r) => ok(r))
      ]),
      10_000,
      "timeout=0 waits"
    )
    expect(results[0]).toEqual({ command: null, timedOut: true })
    expect(results[1]).toMatchObject({ timedOut: true, command: { status: "pending" } })
    expect(results[2]).toMatchObject({ timedOut: true })
    expect(results[3]).toMatchObject({ messages: [] })
  })
})
