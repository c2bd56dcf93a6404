/**
 * The state must keep up with the log, or say loudly that it cannot. A log's feed that loses events
 * (a backend bug) or an event the state cannot apply used to stall every later write without a
 * word: the projection dropped whatever did not follow on, and the writes parked for ever waiting for
 * their events. Now a gap is filled from the log (writes answer), a state that cannot follow any more
 * fails the writes with 503 at once and asks to be restarted, and /healthz, /metrics and the log
 * say what happened.
 */
import { Logger, LogLevel } from "effect"
import { describe, expect, it } from "vitest"
import type { BrokerEvent } from "../../src/core/events.js"
import { useBrokers } from "../support/useBroker.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"
import { type Client, client, expectError, logHead, ok, quietConfig, waitFor, within } from "./client.js"

interface Entry {
  readonly level: string
  readonly message: string
}

const capturing = () => {
  const entries: Array<Entry> = []
  const logger = Logger.make(({ logLevel, message, annotations }) => {
    void annotations
    entries.push({ level: logLevel.label, message: String(Array.isArray(message) ? message[0] : message) })
  })
  return { entries, logger }
}

/** What the faults below do to the log's feed and reads; each test sets what it needs. */
interface Faults {
  /** Seqs the feed loses on their way to the broker's state. */
  readonly lost: Set<number>
  /** Seqs the feed garbles into events the state cannot apply. */
  readonly garbled: Set<number>
  /** While true, reads of stored events fail. */
  failReads: boolean
}

const faulty = (faults: Faults) => ({
  published: (batch: ReadonlyArray<BrokerEvent>) =>
    batch
      .filter((event) => !faults.lost.has(event.seq))
      .map((event) => (faults.garbled.has(event.seq) ? ({ ...event, type: "peer.heartbeat", data: null } as never) : event)),
  beforeRead: () => {
    if (faults.failReads) throw new Error("EIO: injected read failure")
  }
})

const metric = async (c: Client, name: string, labels: Record<string, string> = {}) => {
  const res = await c.get("/metrics")
  expect(res.status).toBe(200)
  return sampleValue(parsePrometheus(res.text), `claude_ipc_broker_${name}`, labels)
}

describe("a state that cannot simply follow its log", () => {
  const brokers = useBrokers()

  const start = async (faults: Faults) => {
    const { entries, logger } = capturing()
    const broker = await brokers.start({
      faults: faulty(faults),
      config: { ...quietConfig, repairRetryMs: 400 },
      logs: { logger, level: LogLevel.Info }
    })
    return { c: client(broker.url), entries, broker }
  }

  it("a lost event is re-read from the log: the write answers, /healthz is 503 while it is missing, the metric and the log say so", async () => {
    const faults: Faults = { lost: new Set(), garbled: new Set(), failReads: false }
    const { c, entries, broker } = await start(faults)
    ok(await c.post("/channels/before/send", { n: 1 }))
    expect(ok(await c.get("/healthz"))).toEqual({ ok: true })

    const lost = (await logHead(c)) + 1
    faults.lost.add(lost)
    faults.failReads = true
    // Its event is in the log, but the feed never brings it to the state; the re-read fails for now.
    const write = c.post("/channels/gap/send", { n: 2 })
    const unhealthy = await waitFor(async () => {
      const res = await c.get("/healthz")
      return res.status === 503 && res
    }, { what: "/healthz 503" })
    expect(expectError(unhealthy, 503, "log_unavailable").error.message).toBe(
      `the state is behind its log: event ${lost} never reached it; repairing it from the log`
    )
    expect(await metric(c, "healthy")).toBe(0)

    // The log can be read again: the event is applied, the write answers, all is well.
    faults.failReads = false
    const answered = await within(write, 10_000, "the write whose event was lost")
    expect(ok(answered)).toMatchObject({ id: 1, channel: "gap", data: { n: 2 } })
    expect(ok(await c.get("/healthz"))).toEqual({ ok: true })
    expect(ok(await c.get("/channels/gap/messages?since=0")).messages).toHaveLength(1)
    // Later writes go on as usual, and the lost event counts as appended.
    ok(await c.post("/channels/gap/send", { n: 3 }))
    expect(await metric(c, "projection_faults_total", { kind: "gap" })).toBe(1)
    expect(await metric(c, "projection_faults_total", { kind: "repair_failed" })).toBe(0)
    expect(await metric(c, "events_appended_total", { type: "message.sent" })).toBe(3)
    expect(await metric(c, "healthy")).toBe(1)
    expect(entries).toContainEqual({ level: "ERROR", message: `the log's feed skipped event ${lost}; repairing the state from the log` })
    expect(entries).toContainEqual({ level: "INFO", message: `the state has caught up with its log again, at seq ${lost}` })
    expect(broker.broken()).toBeUndefined()
  })

  it("a gap shown by the next event of a batch is filled before it: a send handed to a parked wait answers both", async () => {
    const faults: Faults = { lost: new Set(), garbled: new Set(), failReads: false }
    const { c, broker: started } = await start(faults)
    const peer = ok(await c.post("/peers/connect", { role: "worker", capabilities: [] }))
    const waiting = c.get(`/commands/${peer.id}/wait?timeout=10000`)
    await waitFor(() => started.broker.activeWaits(peer.id) === 1, { what: "the wait to park" })
    // The send appends command.sent and the parked wait's command.delivered as one batch; the feed
    // loses the first, so the state hears of a claim on a command it has never seen.
    const head = await logHead(c)
    faults.lost.add(head + 1)
    const sent = ok(await within(c.post("/commands/send", { target: "worker", action: "build" }), 10_000, "the send"))
    expect(sent).toMatchObject({ action: "build", status: "delivered", deliveredTo: peer.id })
    expect(ok(await within(waiting, 10_000, "the wait"))).toMatchObject({ command: { id: sent.id, status: "delivered" } })
    expect(await metric(c, "projection_faults_total", { kind: "gap" })).toBe(1)
    expect(await metric(c, "projection_seq")).toBe(head + 2)
    expect(ok(await c.get("/healthz"))).toEqual({ ok: true })
  })

  it("an event the state cannot apply: the write fails with 503 instead of waiting for ever, later writes are refused, /healthz names the event", async () => {
    const faults: Faults = { lost: new Set(), garbled: new Set(), failReads: false }
    const { c, entries, broker: started } = await start(faults)
    ok(await c.post("/channels/before/send", { n: 1 }))
    const garbled = (await logHead(c)) + 1
    faults.garbled.add(garbled)

    const write = await within(c.post("/signals/poisoned", { data: 1 }), 10_000, "the write whose event cannot be applied")
    const recorded = expectError(write, 503, "log_unavailable").error.message
    expect(recorded).toContain(`event ${garbled} was recorded in the log, but this broker stopped applying the log`)

    const health = expectError(await c.get("/healthz"), 503, "log_unavailable").error.message
    expect(health).toMatch(new RegExp(`^event ${garbled} \\(peer\\.heartbeat\\) could not be applied to the state: `))
    expect(started.broken()).toBe(health)

    // Nothing more is appended: it would never be applied either.
    const refused = expectError(await c.post("/channels/after/send", { n: 2 }), 503, "log_unavailable")
    expect(refused.error.message).toContain("nothing was recorded")
    expect(await logHead(c)).toBe(garbled)
    expect(await metric(c, "projection_faults_total", { kind: "apply_failed" })).toBe(1)
    expect(await metric(c, "healthy")).toBe(0)
    expect(entries.filter((entry) => entry.level === "ERROR").map((entry) => entry.message)).toContain(
      `the broker's state stopped following its log: ${health}`
    )
  })

  it("a lost event that cannot be re-read: the waiting write fails with 503 once the retries are spent, and the broker asks to be restarted", async () => {
    const faults: Faults = { lost: new Set(), garbled: new Set(), failReads: false }
    const { c, broker } = await start(faults)
    const lost = (await logHead(c)) + 1
    faults.lost.add(lost)
    faults.failReads = true
    const write = await within(c.post("/channels/gap/send", { n: 1 }), 10_000, "the write whose event cannot be re-read")
    expect(expectError(write, 503, "log_unavailable").error.message).toContain(`event ${lost} was recorded in the log`)
    const health = expectError(await c.get("/healthz"), 503, "log_unavailable").error.message
    expect(health).toBe(`event ${lost} could not be re-read from the log: memory log: read failed: Error: EIO: injected read failure`)
    expect(broker.broken()).toBe(health)
    expect(await metric(c, "projection_faults_total", { kind: "repair_failed" })).toBe(1)
  })
})
