/**
 * Disk trouble, through the file log's fault hooks (a throw simulates that I/O call failing): a
 * full disk on write (ENOSPC), an I/O error on fdatasync (EIO, after the bytes were written), and
 * an undo that fails too (EROFS on truncate). Over HTTP against the in-process broker:
 *
 * - every kind of write answers 503 {"error":{"code":"log_unavailable","message":…}} naming the error;
 * - nothing is left behind: log.head, GET /log and the file's bytes are unchanged, and the state
 *   (/status) is still the replay of /log, so no failed event reached the projection;
 * - once the fault clears, writes succeed again with dense seqs, and a restart on the data dir
 *   reads back exactly the acknowledged history;
 * - under concurrent writes with a flapping disk, a 2xx write is in the log and a 503 one is not;
 * - a wait parked during the fault is not woken by an event that failed to commit, and a failed
 *   claim leaves the command pending for the next one.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { stateOf } from "../support/state.js"
import { BrokerLive, Broker } from "../../src/broker/Broker.js"
import { CheckpointsLive } from "../../src/broker/Checkpoints.js"
import { CheckpointStore } from "../../src/broker/CheckpointStore.js"
import { BrokerConfig } from "../../src/broker/Config.js"
import type { BrokerEvent } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { stateView } from "../../src/core/views.js"
import { MemoryLogLive } from "../../src/log/memory.js"
import type { TestBroker } from "../support/broker.js"
import { type OwnBrokers, useBrokers } from "../support/useBroker.js"
import { type ApiResponse, client, type Client, expectError, ok, quietConfig, waitFor, within } from "../http/client.js"

const diskError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code })

/** The errno code each call should fail with, if any: fixed, or decided per call (numbered from 1). */
type Fault = string | undefined | ((call: number) => string | undefined)
interface Faults {
  write: Fault
  sync: Fault
  truncate: Fault
}

const failing = (fault: Fault, call: number) => (typeof fault === "function" ? fault(call) : fault)

/** A broker on a fresh data dir (ours: it outlives the broker, for restarts) whose disk fails as `faults` says. */
const brokerWithFaults = async (brokers: OwnBrokers, faults: Faults) => {
  const dataDir = await brokers.dataDir("broker-disk-")
  const calls = { write: 0, sync: 0, truncate: 0 }
  return brokers.start({
    dataDir,
    config: { ...quietConfig, sweepIntervalMs: 3_600_000 },
    faults: {
      beforeWrite: () => {
        const code = failing(faults.write, ++calls.write)
        if (code) throw diskError(code, "simulated failure, write")
      },
      beforeSync: () => {
        const code = failing(faults.sync, ++calls.sync)
        if (code) throw diskError(code, "simulated failure, fdatasync")
      },
      beforeTruncate: () => {
        const code = failing(faults.truncate, ++calls.truncate)
        if (code) throw diskError(code, "simulated failure, ftruncate")
      }
    }
  })
}

const parseLog = (text: string): Array<BrokerEvent> =>
  text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as BrokerEvent)

interface Snapshot {
  readonly head: number
  readonly log: string
  readonly file: Buffer
}

const snapshot = async (c: Client, broker: TestBroker): Promise<Snapshot> => {
  const status = ok(await c.get<{ log: { head: number } }>("/status"))
  const res = await fetch(`${broker.url}/log`)
  expect(res.status).toBe(200)
  const log = await res.text()
  return { head: status.log.head, log, file: await readFile(join(broker.dataDir!, "events.ndjson")) }
}

/** The log is valid (every line an event, seqs dense) and the live state is exactly its replay. */
const expectConsistent = async (c: Client, log: string) => {
  const events = parseLog(log)
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1))
  const status = ok(await c.get<Record<string, unknown>>("/status"))
  const replayed = JSON.parse(JSON.stringify(stateView(Projection.replay(events)))) as Record<string, unknown>
  expect(stateOf(status)).toEqual(stateOf(replayed))
  return events
}

const expectUnavailable = (res: ApiResponse, code: string, what: string) => {
  const body = expectError(res, 503, "log_unavailable")
  expect(body.error.message, what).toContain(code)
}

describe("disk faults", () => {
  const brokers = useBrokers()

  /** Every request that appends, against a broker with a peer, a pending and a delivered command and a fired signal. */
  const writes = async (c: Client) => {
    const peer = ok(await c.post<{ id: string }>("/peers/connect", { role: "builder", capabilities: [], id: "disk-peer" }))
    const pending = ok(await c.post<{ id: string }>("/commands/send", { target: "nobody", action: "wait" }))
    ok(await c.post("/commands/send", { target: peer.id, action: "take" }))
    const taken = ok(await c.get<{ command: { id: string } }>(`/commands/${peer.id}/wait?timeout=0`)).command
    const claimable = ok(await c.post<{ id: string }>("/commands/send", { target: peer.id, action: "claim me" }))
    ok(await c.post("/signals/fired", { data: 1 }))
    // A heartbeat is a write only when it brings a peer back: liveness of an online one is kept in memory.
    const gone = ok(await c.post<{ id: string }>("/peers/connect", { role: "builder", capabilities: [], id: "gone-peer" }))
    ok(await c.post(`/peers/${gone.id}/disconnect`))
    return {
      claimable: claimable.id,
      online: peer.id,
      requests: [
        ["connect", () => c.post("/peers/connect", { role: "builder", capabilities: [] })],
        ["heartbeat back online", () => c.post(`/peers/${gone.id}/heartbeat`)],
        ["send command", () => c.post("/commands/send", { target: "builder", action: "x" })],
        ["ack", () => c.post(`/commands/${taken.id}/ack`, { result: "done" })],
        ["cancel", () => c.post(`/commands/${pending.id}/cancel`)],
        ["claim", () => c.get(`/commands/${peer.id}/wait?timeout=0`)],
        ["channel send", () => c.post("/channels/disk/send", { text: "hello" })],
        ["signal fire", () => c.post("/signals/other", { data: 2 })],
        ["signal clear", () => c.del("/signals/fired")],
        ["disconnect", () => c.post(`/peers/${peer.id}/disconnect`)],
        ["reset", () => c.post("/reset")]
      ] as const
    }
  }

  for (const [fault, code] of [
    ["write", "ENOSPC"],
    ["sync", "EIO"]
  ] as const) {
    it(`${code} on ${fault === "write" ? "write" : "fdatasync"}: every write is a 503, nothing is left behind, and writes resume densely`, async () => {
      const faults: Faults = { write: undefined, sync: undefined, truncate: undefined }
      const broker = await brokerWithFaults(brokers, faults)
      const c = client(broker.url)
      const { requests, claimable, online } = await writes(c)
      const before = await snapshot(c, broker)
      await expectConsistent(c, before.log)

      faults[fault] = code
      for (const [what, run] of requests) {
        expectUnavailable(await run(), code, what)
        const now = await snapshot(c, broker)
        expect(now.head, what).toBe(before.head)
        expect(now.log, what).toBe(before.log)
        // After a failed fdatasync the written bytes were truncated away again.
        expect(now.file.equals(before.file), `${what}: the file changed`).toBe(true)
      }
      // An online peer's heartbeat needs no disk: it answers, and the log stays as it was.
      expect(ok(await c.post<{ status: string }>(`/peers/${online}/heartbeat`)).status).toBe("online")
      expect((await snapshot(c, broker)).log).toBe(before.log)
      await expectConsistent(c, before.log)
      // The failed claim did not take the command: it is still pending.
      const command = ok(await c.get<{ commands: Array<{ id: string; status: string }> }>("/commands?limit=1000")).commands.find(
        (x) => x.id === claimable
      )
      expect(command?.status).toBe("pending")

      faults[fault] = undefined
      let head = before.head
      for (const [what, run] of requests) {
        const res = await run()
        expect(res.status, `${what} after the fault cleared: ${res.text}`).toBe(200)
        const now = ok(await c.get<{ log: { head: number } }>("/status")).log.head
        expect(now, what).toBeGreaterThan(head)
        head = now
      }
      const after = await snapshot(c, broker)
      const events = await expectConsistent(c, after.log)
      expect(after.log.startsWith(before.log)).toBe(true)
      expect(after.file.toString("utf8")).toBe(after.log)
      expect(events).toHaveLength(head)

      // A restart reads back exactly the acknowledged history: no failed batch resurfaces.
      const dataDir = broker.dataDir!
      await broker.close()
      const again = await brokers.start({ dataDir, config: quietConfig })
      const reread = await fetch(`${again.url}/log`)
      expect(await reread.text()).toBe(after.log)
    })
  }

  it("an undo that fails too keeps writes unavailable until it succeeds; then the log is whole", async () => {
    const faults: Faults = { write: undefined, sync: undefined, truncate: undefined }
    const broker = await brokerWithFaults(brokers, faults)
    const c = client(broker.url)
    for (let i = 0; i < 3; i++) ok(await c.post("/channels/undo/send", { i }))
    const before = await snapshot(c, broker)

    faults.sync = "EIO"
    faults.truncate = "EROFS"
    expectUnavailable(await c.post("/channels/undo/send", { lost: 1 }), "EIO", "first failure")
    faults.sync = undefined
    // The failed batch's bytes are still in the file: nothing may be appended after them.
    for (let i = 0; i < 3; i++) expectUnavailable(await c.post("/channels/undo/send", { lost: 2 + i }), "EROFS", "blocked")
    const blocked = await snapshot(c, broker)
    expect(blocked.head).toBe(before.head)
    expect(blocked.log).toBe(before.log)

    faults.truncate = undefined
    const res = ok(await c.post<{ id: number }>("/channels/undo/send", { kept: true }))
    expect(res.id).toBe(4)
    const after = await snapshot(c, broker)
    const events = await expectConsistent(c, after.log)
    expect(after.head).toBe(before.head + 1)
    expect(after.file.toString("utf8")).toBe(after.log)
    expect(events.filter((e) => e.type === "message.sent").map((e) => (e.data as { message: unknown }).message)).toEqual([
      { i: 0 },
      { i: 1 },
      { i: 2 },
      { kept: true }
    ])
  })

  it("a flapping disk under concurrent writes: 2xx writes are in the log, 503 ones are not", async () => {
    const faults: Faults = { write: undefined, sync: undefined, truncate: undefined }
    const broker = await brokerWithFaults(brokers, faults)
    const c = client(broker.url)
    const acked = new Set<string>()
    const refused = new Set<string>()
    // Flap, by count of commits (each a group of whatever appends queued up): every third write and
    // every fourth fdatasync fails, for the first 60 of each; then the disk is fine.
    faults.write = (call) => (call <= 60 && call % 3 === 0 ? "ENOSPC" : undefined)
    faults.sync = (call) => (call <= 60 && call % 4 === 0 ? "EIO" : undefined)
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) {
          const token = `w${w}-${i}`
          const res = await c.post(`/channels/flap-${w % 3}/send`, { token })
          if (res.status === 200) acked.add(token)
          else {
            expectUnavailable(res, res.text.includes("ENOSPC") ? "ENOSPC" : "EIO", token)
            refused.add(token)
          }
        }
      })
    )
    faults.write = undefined
    faults.sync = undefined
    expect(refused.size).toBeGreaterThan(0)
    expect(acked.size).toBeGreaterThan(0)

    const after = await snapshot(c, broker)
    const events = await expectConsistent(c, after.log)
    expect(after.file.toString("utf8")).toBe(after.log)
    const stored = new Set(
      events.filter((e) => e.type === "message.sent").map((e) => (e.data as { message: { token: string } }).message.token)
    )
    expect([...acked].filter((t) => !stored.has(t))).toEqual([])
    expect([...refused].filter((t) => stored.has(t))).toEqual([])
    expect(acked.size + refused.size).toBe(200)
    // Channel message ids are dense too: they count only what was stored.
    for (const channel of ["flap-0", "flap-1", "flap-2"]) {
      const page = ok(await c.get<{ messages: Array<{ id: number }> }>(`/channels/${channel}/messages?limit=1000`))
      expect(page.messages.map((m) => m.id)).toEqual(page.messages.map((_, i) => i + 1))
    }
    const restartDir = broker.dataDir!
    await broker.close()
    const again = await brokers.start({ dataDir: restartDir, config: quietConfig })
    expect(await (await fetch(`${again.url}/log`)).text()).toBe(after.log)
  })

  it("a wait parked during the fault is not woken by a failed append, and gets the next good one", async () => {
    const faults: Faults = { write: undefined, sync: undefined, truncate: undefined }
    const broker = await brokerWithFaults(brokers, faults)
    const c = client(broker.url)
    const reading = c.get<{ messages: Array<{ id: number; data: unknown }>; lastId: number }>(
      "/channels/parked/messages?since=0&timeout=20000"
    )
    const signal = c.get<{ signal: { fired: boolean; data: unknown }; timedOut: boolean }>("/signals/parked/wait?timeout=20000")
    // Both are parked (in-process count of parked waits, when the broker exposes it).
    await waitFor(async () => (await Effect.runPromise(broker.broker.stats)).waits >= 2, { what: "two parked waits" })

    faults.sync = "EIO"
    expectUnavailable(await c.post("/channels/parked/send", { n: "lost" }), "EIO", "publish")
    expectUnavailable(await c.post("/signals/parked", { data: "lost" }), "EIO", "fire")
    faults.sync = undefined

    ok(await c.post("/channels/parked/send", { n: "kept" }))
    ok(await c.post("/signals/parked", { data: "kept" }))
    const page = ok(await within(reading, 10_000, "parked channel read"))
    expect(page.messages).toMatchObject([{ id: 1, data: { n: "kept" } }])
    expect(page.lastId).toBe(1)
    const fired = ok(await within(signal, 10_000, "parked signal wait"))
    expect(fired.signal).toMatchObject({ fired: true, data: "kept" })
  })

  it("a spaced checkpoint that could not be appended makes the next one rewrite the stored chain whole", async () => {
    const appended: Array<Array<number>> = []
    const replaced: Array<Array<number>> = []
    let failures = 1
    const flakyChain = Layer.succeed(CheckpointStore, {
      load: Effect.succeed(undefined),
      save: () => Effect.void,
      chain: {
        load: () => Effect.succeed({ read: 0, whole: true }),
        append: (deltas) =>
          Effect.sync(() => {
            if (failures-- > 0) return false
            appended.push(deltas.map((delta) => delta.seq))
            return true
          }),
        replace: (deltas) => Effect.sync(() => replaced.push(deltas.map((delta) => delta.seq)) > 0)
      }
    })
    const layer = BrokerLive.pipe(
      Layer.provide(CheckpointsLive),
      Layer.provide(Layer.mergeAll(MemoryLogLive, flakyChain, BrokerConfig.layer({ ...quietConfig, checkpointEvery: 2 })))
    )
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    const broker = Context.get(context, Broker)
    for (let n = 1; n <= 6; n++) await Effect.runPromise(broker.publish("chained", null, { n }))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    // seq 2 was lost on its way to the file; the delta at 4 rewrote the chain with it, then appends resumed.
    expect(replaced).toEqual([[2, 4]])
    expect(appended).toEqual([[6]])
  })

  // Was a bug: a periodic checkpoint save ran detached from the broker's scope, so closing it left
  // the save writing into the data dir. The shutdown now awaits it.
  it("closing the broker leaves no checkpoint save running", async () => {
    // Saves of the checkpoint store: the first one takes a while (a slow disk), the others are instant.
    let inFlight = 0
    let saves = 0
    const slowStore = Layer.succeed(CheckpointStore, {
      load: Effect.succeed(undefined),
      save: () =>
        Effect.acquireUseRelease(
          Effect.sync(() => ++inFlight),
          () => (saves++ === 0 ? Effect.sleep("3 seconds") : Effect.void),
          () => Effect.sync(() => --inFlight)
        )
    })
    const layer = BrokerLive.pipe(
      Layer.provide(CheckpointsLive),
      Layer.provide(Layer.mergeAll(MemoryLogLive, slowStore, BrokerConfig.layer({ ...quietConfig, persistCheckpointEvery: 1 })))
    )
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    await Effect.runPromise(Context.get(context, Broker).publish("checkpointed", null, { n: 1 }))
    await waitFor(() => inFlight === 1, { what: "the periodic checkpoint save to start" })
    await Effect.runPromise(Scope.close(scope, Exit.void))
    // Closed means closed: the save was either awaited or interrupted, not left writing the data dir.
    const left = inFlight
    await waitFor(() => inFlight === 0, { timeoutMs: 10_000, what: "the detached save to end" })
    expect(left, "checkpoint saves still running after the broker closed").toBe(0)
  })
})
