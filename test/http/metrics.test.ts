import { describe, expect, it } from "vitest"
import { eventTypes } from "../../src/core/events.js"
import { Counter, Histogram, render } from "../../src/broker/metrics/prometheus.js"
import { useBroker } from "../support/useBroker.js"
import { parsePrometheus, type ParsedFamily, sampleValue } from "../support/prometheus.js"
import { ack, type Client, client, connect, expectError, ok, openSse, quietConfig, sendCommand, waitCommand, waitFor } from "./client.js"

const prefix = "claude_ipc_broker"

const scrape = async (c: Client, headers: Record<string, string> = {}) => {
  const res = await c.get("/metrics", { headers })
  expect(res.status, res.text).toBe(200)
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
  return parsePrometheus(res.text)
}

/** `_count` of one series of a request histogram. */
const requests = (
  families: ReadonlyMap<string, ParsedFamily>,
  family: "http_request_duration_seconds" | "http_wait_duration_seconds",
  method: string,
  route: string,
  status = 200
) => sampleValue(families, `${prefix}_${family}_count`, { method, route, status: String(status) }) ?? 0

const gauge = (families: ReadonlyMap<string, ParsedFamily>, name: string, labels: Record<string, string> = {}) =>
  sampleValue(families, `${prefix}_${name}`, labels)

describe("GET /metrics in projects", () => {
  const broker = useBroker({ config: quietConfig })

  it("labels the state's gauges with their project; the log's are the one log's", async () => {
    await connect(client(`${broker.url}/p/metrics-b`), { role: "b-worker" })
    ok(await client(`${broker.url}/p/metrics-b`).post("/channels/c/send", { n: 1 }))
    const families = await scrape(broker.client)
    expect(gauge(families, "peers", { project: "metrics-b", status: "online" })).toBe(1)
    expect(gauge(families, "peers", { project: "default", status: "online" })).toBe(0)
    expect(gauge(families, "channels", { project: "metrics-b" })).toBe(1)
    expect(gauge(families, "channels", { project: "default" })).toBe(0)
    expect(gauge(families, "projection_seq")).toBe(gauge(families, "log_head"))
  })
})

describe("GET /metrics on the file log", () => {
  const broker = useBroker({ memory: false, config: quietConfig })
  const c = broker.client

  it("counts the events appended, by type, exactly as the log holds them", async () => {
    await connect(c, { id: "m-worker", role: "m-workers" })
    await connect(c, { id: "m-gone", role: "m-workers" })
    const first = await sendCommand(c, { target: "m-worker", action: "build" })
    const second = await sendCommand(c, { target: "m-worker", action: "test" })
    await sendCommand(c, { target: "m-nobody", action: "lint" })
    const claimed = await waitCommand(c, "m-worker", 5_000)
    expect(claimed.command?.id).toBe(first.id)
    await ack(c, first.id, { result: { passed: 1 } })
    ok(await c.post(`/commands/${second.id}/cancel`))
    ok(await c.post("/channels/m-builds/send", { text: "green" }))
    ok(await c.post("/channels/m-builds/send", { text: "red" }))
    ok(await c.post("/signals/m-ready", { data: 1 }))
    ok(await c.post("/peers/m-gone/disconnect"))

    const families = await scrape(c)
    const log = (await c.get("/log")).text.trim().split("\n").map((line) => JSON.parse(line) as { type: string })
    const counted = Object.fromEntries(eventTypes.map((type) => [type, 0]))
    for (const event of log) counted[event.type] = (counted[event.type] ?? 0) + 1
    for (const [type, count] of Object.entries(counted)) {
      expect(sampleValue(families, `${prefix}_events_appended_total`, { type }), type).toBe(count)
    }
    expect(counted["command.sent"]).toBe(3)
    expect(counted["message.sent"]).toBe(2)

    // The broker started on an empty log, so everything in it was appended by this process.
    const head = ok(await c.get<{ log: { head: number } }>("/status")).log.head
    expect(gauge(families, "log_head")).toBe(head)
    expect(gauge(families, "projection_seq")).toBe(head)
    expect(log.length).toBe(head)
    expect(gauge(families, "info", { version: "0.1.0", backend: "file" })).toBe(1)
  })

  it("shows peers and commands by project and status, from the state", async () => {
    const families = await scrape(c)
    expect(gauge(families, "peers", { project: "default", status: "online" })).toBe(1)
    expect(gauge(families, "peers", { project: "default", status: "stale" })).toBe(0)
    expect(gauge(families, "peers", { project: "default", status: "offline" })).toBe(1)
    const commands = Object.fromEntries(
      ["pending", "delivered", "acked", "failed", "expired", "cancelled"].map((status) => [
        status,
        gauge(families, "commands", { project: "default", status })
      ])
    )
    expect(commands).toEqual({ pending: 1, delivered: 0, acked: 1, failed: 0, expired: 0, cancelled: 1 })
    expect(gauge(families, "channels", { project: "default" })).toBe(1)
    expect(gauge(families, "channel_messages", { project: "default", state: "held" })).toBe(2)
    expect(gauge(families, "channel_messages", { project: "default", state: "trimmed" })).toBe(0)
  })

  it("times requests by route template and status, long polls apart", async () => {
    const before = await scrape(c)
    const asked = {
      metricsScrapes: requests(before, "http_request_duration_seconds", "GET", "/metrics"),
      waits: requests(before, "http_wait_duration_seconds", "GET", "/signals/:name/wait"),
      instant: requests(before, "http_request_duration_seconds", "GET", "/signals/:name/wait"),
      peers: requests(before, "http_request_duration_seconds", "GET", "/peers/:id"),
      missing: requests(before, "http_request_duration_seconds", "GET", "/peers/:id", 404),
      unmatched: requests(before, "http_request_duration_seconds", "GET", "unmatched", 404),
      messages: requests(before, "http_request_duration_seconds", "GET", "/channels/:name/messages"),
      messageWaits: requests(before, "http_wait_duration_seconds", "GET", "/channels/:name/messages")
    }
    ok(await c.get("/signals/m-never/wait?timeout=20")) // times out: a long poll
    ok(await c.get("/signals/m-never/wait?timeout=0")) // answers at once
    ok(await c.get("/peers/m-worker"))
    expectError(await c.get("/peers/m-unknown"), 404, "not_found")
    expectError(await c.get("/no/such/route/m-1"), 404, "not_found")
    expectError(await c.get("/no/such/route/m-2"), 404, "not_found")
    ok(await c.get("/channels/m-builds/messages")) // channel reads wait only when asked to
    ok(await c.get("/channels/m-builds/messages?since=2&timeout=20"))

    const after = await scrape(c)
    expect(requests(after, "http_request_duration_seconds", "GET", "/metrics")).toBe(asked.metricsScrapes + 1)
    expect(requests(after, "http_wait_duration_seconds", "GET", "/signals/:name/wait")).toBe(asked.waits + 1)
    expect(requests(after, "http_request_duration_seconds", "GET", "/signals/:name/wait")).toBe(asked.instant + 1)
    expect(requests(after, "http_request_duration_seconds", "GET", "/peers/:id")).toBe(asked.peers + 1)
    expect(requests(after, "http_request_duration_seconds", "GET", "/peers/:id", 404)).toBe(asked.missing + 1)
    expect(requests(after, "http_request_duration_seconds", "GET", "unmatched", 404)).toBe(asked.unmatched + 2)
    expect(requests(after, "http_request_duration_seconds", "GET", "/channels/:name/messages")).toBe(asked.messages + 1)
    expect(requests(after, "http_wait_duration_seconds", "GET", "/channels/:name/messages")).toBe(asked.messageWaits + 1)
    // Writes of the first test: two connects, three sends, one ack, one cancel.
    expect(requests(after, "http_request_duration_seconds", "POST", "/peers/connect")).toBe(2)
    expect(requests(after, "http_request_duration_seconds", "POST", "/commands/send")).toBe(3)
    expect(requests(after, "http_request_duration_seconds", "POST", "/commands/:commandId/ack")).toBe(1)
    expect(requests(after, "http_request_duration_seconds", "POST", "/commands/:commandId/cancel")).toBe(1)
    expect(requests(after, "http_wait_duration_seconds", "GET", "/commands/:peerId/wait")).toBe(1)
    // No raw path ever becomes a label value.
    const routes = new Set(
      [...after.values()].flatMap((family) => family.samples.map((sample) => sample.labels["route"])).filter(Boolean)
    )
    expect([...routes].filter((route) => route!.includes("m-"))).toEqual([])
  })

  it("times the file log's fsyncs: at least one, at most one per event (group commit)", async () => {
    const families = await scrape(c)
    const fsyncs = sampleValue(families, `${prefix}_fsync_duration_seconds_count`)!
    const events = families
      .get(`${prefix}_events_appended_total`)!
      .samples.reduce((sum, sample) => sum + sample.value, 0)
    expect(fsyncs).toBeGreaterThanOrEqual(1)
    expect(fsyncs).toBeLessThanOrEqual(events)
    expect(sampleValue(families, `${prefix}_fsync_duration_seconds_sum`)).toBeGreaterThanOrEqual(0)
  })

  it("shows open SSE clients and parked waits while they last", async () => {
    const streamsBefore = sampleValue(await scrape(c), `${prefix}_http_streams_total`, {
      method: "GET",
      route: "/events",
      status: "200"
    })
    const events = await openSse(`${broker.url}/events`)
    const parked = new AbortController()
    const wait = fetch(`${broker.url}/commands/m-worker/wait?timeout=60000`, { signal: parked.signal }).catch(
      () => undefined
    )
    try {
      const live = await waitFor(
        async () => {
          const families = await scrape(c)
          return gauge(families, "sse_clients") === 1 && gauge(families, "waiters") === 1 && families
        },
        { what: "one SSE client and one parked wait" }
      )
      expect(gauge(live, "http_waits_in_flight", { method: "GET", route: "/commands/:peerId/wait" })).toBe(1)
      expect(gauge(live, "sse_clients_max")).toBe(1000)
      expect(gauge(live, "waiters_max")).toBe(10000)
      expect(sampleValue(live, `${prefix}_http_streams_total`, { method: "GET", route: "/events", status: "200" })).toBe(
        (streamsBefore ?? 0) + 1
      )
    } finally {
      events.close()
      parked.abort()
      await wait
    }
    await waitFor(
      async () => {
        const families = await scrape(c)
        return (
          gauge(families, "sse_clients") === 0 &&
          gauge(families, "waiters") === 0 &&
          gauge(families, "http_waits_in_flight", { method: "GET", route: "/commands/:peerId/wait" }) === 0
        )
      },
      { what: "the SSE client and the wait gone" }
    )
  })

  it("reports the process", async () => {
    const families = await scrape(c)
    expect(sampleValue(families, "process_resident_memory_bytes")).toBeGreaterThan(0)
    expect(sampleValue(families, "process_cpu_seconds_total")).toBeGreaterThan(0)
    const started = sampleValue(families, "process_start_time_seconds")!
    expect(started).toBeLessThanOrEqual(Date.now() / 1000)
    expect(started).toBeGreaterThan(Date.now() / 1000 - 24 * 3600)
  })
})

describe("GET /metrics on the memory log", () => {
  const broker = useBroker()

  it("has no fsync family, since nothing is synced", async () => {
    const families = await scrape(broker.client)
    expect(families.has(`${prefix}_fsync_duration_seconds`)).toBe(false)
    expect(gauge(families, "info", { version: "0.1.0", backend: "memory" })).toBe(1)
    expect(gauge(families, "log_head")).toBe(0)
  })
})

describe("GET /metrics with a token", () => {
  const c = useBroker({ token: "metrics-token" }).client

  it("is behind the same guard as every other route", async () => {
    expectError(await c.get("/metrics"), 401, "unauthorized")
    const families = await scrape(c, { authorization: "Bearer metrics-token" })
    // The refused scrape was timed too, under its route.
    expect(requests(families, "http_request_duration_seconds", "GET", "/metrics", 401)).toBe(1)
  })

  it("shows a scoped token its own project's gauges only, and every project to the admin token", async () => {
    const admin = { authorization: "Bearer metrics-token" }
    ok(await c.post("/p/hidden/channels/c/send", { n: 1 }, { headers: admin }))
    ok(await c.post("/p/alpha/channels/c/send", { n: 1 }, { headers: admin }))
    const all = await scrape(c, admin)
    expect(gauge(all, "channels", { project: "hidden" })).toBe(1)
    expect(gauge(all, "channels", { project: "alpha" })).toBe(1)
    for (const role of ["viewer", "agent", "admin"]) {
      const { token } = ok(await c.post<{ token: string }>("/tokens", { name: `metrics-${role}`, project: "alpha", role }, { headers: admin }), 201)
      const headers = { authorization: `Bearer ${token}` }
      const res = await c.get("/p/alpha/metrics", { headers })
      expect(res.status, res.text).toBe(200)
      const own = parsePrometheus(res.text)
      expect(gauge(own, "channels", { project: "alpha" })).toBe(1)
      expect(gauge(own, "peers", { project: "alpha", status: "online" })).toBe(0)
      // No other project is named: not hidden, not even default.
      expect(res.text).not.toMatch(/project="(?!alpha")/)
      // The broker's own families are there as for the admin.
      expect(gauge(own, "log_head")).toBeGreaterThan(0)
      // Another project's scrape (default's too) is another project's request.
      expectError(await c.get("/metrics", { headers }), 403, "forbidden_project")
      expectError(await c.get("/p/hidden/metrics", { headers }), 403, "forbidden_project")
    }
  })
})

describe("the exposition format", () => {
  it("escapes label values and help text so that a strict parser reads them back", () => {
    const counter = new Counter("odd_total", 'help with \\ and\nnewline')
    counter.with({ path: 'a "quoted" \\ back\nslash' }).inc(2)
    const histogram = new Histogram("latency_seconds", "latency", [0.1, 1])
    const series = histogram.with({ route: "/x" })
    for (const value of [0.05, 0.5, 0.5, 3]) series.observe(value)
    const parsed = parsePrometheus(render([counter.family(), histogram.family()]))
    expect(parsed.get("odd_total")!.help).toBe("help with \\ and\nnewline")
    expect(sampleValue(parsed, "odd_total", { path: 'a "quoted" \\ back\nslash' })).toBe(2)
    const buckets = parsed
      .get("latency_seconds")!
      .samples.filter((sample) => sample.name === "latency_seconds_bucket")
      .map((sample) => [sample.labels["le"], sample.value])
    expect(buckets).toEqual([
      ["0.1", 1],
      ["1", 3],
      ["+Inf", 4]
    ])
    expect(sampleValue(parsed, "latency_seconds_sum", { route: "/x" })).toBe(4.05)
  })

  it("is checked by a parser that refuses what Prometheus would", () => {
    const refused = [
      "no_newline 1",
      "bad-name 1\n",
      'x{a="1",a="2"} 1\n',
      'x{a="\\t"} 1\n',
      "x one\n",
      "# TYPE x counter\nx -1\n",
      "# TYPE x wrong\n",
      "x 1\n# TYPE x gauge\n",
      "x 1\ny 1\nx{a=\"b\"} 2\n",
      "x 1\nx 2\n",
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'
    ]
    for (const text of refused) expect(() => parsePrometheus(text), JSON.stringify(text)).toThrow()
  })
})
