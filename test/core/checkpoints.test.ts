import { describe, expect, it } from "vitest"
import { checkpointFormat, decodeCheckpoint, encodeCheckpoint, type StoredCheckpoint } from "../../src/core/checkpointCodec.js"
import type { BrokerEvent } from "../../src/core/events.js"
import { eventTypes } from "../../src/core/events.js"
import { Projection, type Change, type Checkpoint } from "../../src/core/projection.js"
import { connected, delivered, fullView, heldAtsOf, seqIndexOf, sent, store, wentOffline } from "./given.js"
import { generateLog, peerIds, roles } from "./generate.js"

/** What stateView leaves out: the indexes behind waits, and each channel's seq index. */
const indexView = (projection: Projection) => {
  const ids = (list: ReadonlyArray<{ context: { id: string } }>) => list.map((s) => s.context.id)
  const out: Record<string, unknown> = {}
  for (const peer of [...peerIds, "ghost"]) {
    out[`held:${peer}`] = ids(projection.heldBy(peer)).sort()
    for (const role of [...roles, peer]) {
      out[`pending:${peer}:${role}`] = ids(projection.pendingFor(peer, role))
      out[`oldest:${peer}:${role}`] = projection.oldestPendingFor(peer, role)?.context.id
    }
  }
  for (const [name, snapshot] of projection.channels) {
    out[`seqs:${name}`] = seqIndexOf(snapshot)
    out[`ats:${name}`] = heldAtsOf(snapshot)
  }
  // Tokens survive resets and ride in every checkpoint; each is found by its hash.
  out.tokens = [...projection.tokens.values()]
  out.byHash = [...projection.tokens.values()].map((token) => projection.tokenByHash(token.hash)?.name)
  return out
}

const observe = (projection: Projection) => ({ state: fullView(projection), indexes: indexView(projection) })

const throughJson = (checkpoint: Checkpoint): Checkpoint =>
  decodeCheckpoint(JSON.parse(JSON.stringify(encodeCheckpoint(checkpoint))) as StoredCheckpoint)

/** Changes per event, order inside one event aside (a release of several held commands has no set order). */
const applyAll = (projection: Projection, events: ReadonlyArray<BrokerEvent>): Array<Array<string>> =>
  events.map((event) =>
    projection
      .apply(event)
      .map((change: Change) => JSON.stringify(change))
      .sort()
  )

const count = 400
const resetAt = 250
const log = generateLog({ seed: 20250102, count, resetAt })
const ks = [0, 1, 2, 37, 100, 199, resetAt, resetAt + 1, resetAt + 2, 333, count - 1, count]
/** Two histories: one with a reset in it (which hides whatever went wrong before it), one without. */
const logs = [
  { name: "a log with a reset", events: log, ks, resetAt },
  { name: "a log without a reset", events: generateLog({ seed: 4242, count: 300 }), ks: [0, 1, 50, 123, 200, 299, 300], resetAt: undefined }
]

describe("checkpoints", () => {
  describe("the generated log", () => {
    it("is deterministic", () => expect(generateLog({ seed: 20250102, count, resetAt })).toEqual(log))

    it("has dense seqs and timestamps that never go backwards", () => {
      expect(log.map((e) => e.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1))
      for (let i = 1; i < log.length; i++) expect(log[i]!.at >= log[i - 1]!.at).toBe(true)
    })

    for (const { name, events, resetAt } of logs) {
      it(`${name}: exercises every event type and the interesting paths`, () => {
        const types = new Set(eventTypes.filter((type) => resetAt !== undefined || type !== "broker.reset"))
        expect(new Set(events.map((e) => e.type))).toEqual(types)
        const before = Projection.replay(events.slice(0, resetAt ?? events.length))
        const counts = fullView(before).commandCounts
        for (const status of ["pending", "acked", "failed", "cancelled", "expired"] as const) {
          expect(counts[status], status).toBeGreaterThan(0)
        }
        const redelivered = [...before.commands.values()].filter((s) => s.context.deliveries >= 2)
        expect(redelivered.length).toBeGreaterThan(0)
        // Some peer went offline holding a command, some claim lost, some ack came late.
        const live = new Projection()
        let released = 0
        let ignoredClaims = 0
        let ignoredAcks = 0
        for (const event of events) {
          const changes = live.apply(event)
          if (event.type === "peer.went_offline") released += changes.filter((c) => c.kind === "command.pending").length
          if (event.type === "command.delivered" && changes.length === 0) ignoredClaims++
          if (event.type === "command.acked" && changes.length === 0) ignoredAcks++
        }
        expect(released).toBeGreaterThan(0)
        expect(ignoredClaims).toBeGreaterThan(0)
        expect(ignoredAcks).toBeGreaterThan(0)
      })
    }
  })

  describe("replay from a checkpoint equals replay from the start", () => {
    for (const { name, events, ks } of logs) {
      describe(name, () => {
        for (const k of ks) {
          it(`at k = ${k}, all along the tail`, () => {
            const checkpoint = Projection.replay(events.slice(0, k)).checkpoint()
            expect(checkpoint.seq).toBe(k)
            const fromStart = new Projection()
            const resumed = [
              Projection.fromCheckpoint(checkpoint),
              Projection.fromCheckpoint(throughJson(checkpoint)),
              Projection.fromCheckpoint(decodeCheckpoint(encodeCheckpoint(checkpoint)))
            ]
            for (const event of events.slice(0, k)) fromStart.apply(event)
            for (const event of events.slice(k)) {
              fromStart.apply(event)
              for (const projection of resumed) projection.apply(event)
              // The indexes after every event, the whole state now and then and at the end.
              const whole = event.seq % 20 === 0 || event.seq === events.length
              const expected = whole ? observe(fromStart) : indexView(fromStart)
              for (const projection of resumed) {
                expect(whole ? observe(projection) : indexView(projection), `seq ${event.seq}`).toEqual(expected)
              }
            }
            for (const projection of resumed) expect(observe(projection)).toEqual(observe(fromStart))
            // Projection.replay(tail, checkpoint) is the same thing in one call.
            expect(observe(Projection.replay(events.slice(k), checkpoint))).toEqual(observe(fromStart))
          })
        }

        it("every event of the tail reports the same changes", () => {
          const fromStart = applyAll(new Projection(), events)
          for (const k of ks) {
            const checkpoint = throughJson(Projection.replay(events.slice(0, k)).checkpoint())
            expect(applyAll(Projection.fromCheckpoint(checkpoint), events.slice(k)), `k = ${k}`).toEqual(fromStart.slice(k))
          }
        })

        it("a restored projection at k looks like the projection at k", () => {
          for (const k of ks) {
            const atK = Projection.replay(events.slice(0, k))
            expect(observe(Projection.fromCheckpoint(throughJson(atK.checkpoint()))), `k = ${k}`).toEqual(observe(atK))
          }
        })
      })
    }
  })

  describe("checkpoints taken from a live projection (as the broker does)", () => {
    it("resume to the same state, and replaying from them leaves the live projection intact", () => {
      const live = new Projection()
      const taken = new Map<number, Checkpoint>()
      if (ks.includes(0)) taken.set(0, live.checkpoint())
      for (const event of log) {
        live.apply(event)
        if (ks.includes(event.seq)) taken.set(event.seq, live.checkpoint())
      }
      const expected = observe(Projection.replay(log))
      expect(observe(live)).toEqual(expected)

      for (const k of ks) {
        const checkpoint = taken.get(k)!
        // The checkpoint still shows the state at k, though the live projection moved on.
        expect(encodeCheckpoint(checkpoint), `k = ${k}`).toEqual(encodeCheckpoint(Projection.replay(log.slice(0, k)).checkpoint()))
        expect(observe(Projection.replay(log.slice(k), checkpoint)), `k = ${k}`).toEqual(expected)
        expect(observe(Projection.replay(log.slice(k), throughJson(checkpoint))), `k = ${k}`).toEqual(expected)
      }
      // Replays from old checkpoints appended to shared seq indexes: the live one must not notice.
      expect(observe(live)).toEqual(expected)
    })

    it("replaying a different history from an old checkpoint does not disturb the live projection", () => {
      const k = 120
      const live = Projection.replay(log.slice(0, k))
      const checkpoint = live.checkpoint()
      // A fork: the same kinds of events, another order and content, from seq k + 1.
      const fork = generateLog({ seed: 7, count: 200 }).map((e, i) => ({ ...e, seq: k + 1 + i, at: log[k]!.at }))
      const forked = Projection.replay(fork, checkpoint)
      for (const event of log.slice(k)) live.apply(event)
      const forkedAgain = Projection.replay(fork, checkpoint)

      expect(observe(live)).toEqual(observe(Projection.replay(log)))
      expect(observe(forked)).toEqual(observe(forkedAgain))
      expect(observe(forked)).toEqual(observe(Projection.replay(fork, throughJson(Projection.replay(log.slice(0, k)).checkpoint()))))
    })
  })

  describe("the JSON codec", () => {
    const checkpoint = Projection.replay(log.slice(0, 333)).checkpoint()

    it("survives JSON.stringify / JSON.parse unchanged", () => {
      const encoded = encodeCheckpoint(checkpoint)
      const parsed = JSON.parse(JSON.stringify(encoded)) as StoredCheckpoint
      expect(parsed).toEqual(JSON.parse(JSON.stringify(encoded)))
      expect(parsed.format).toBe(checkpointFormat)
      expect(parsed.seq).toBe(333)
      expect(parsed.at).toBe(log[332]!.at)
      expect(JSON.stringify(encodeCheckpoint(decodeCheckpoint(parsed)))).toBe(JSON.stringify(encoded))
    })

    it("restores each entity's state and context through its machine", () => {
      const decoded = throughJson(checkpoint)
      expect([...decoded.peers.keys()]).toEqual([...checkpoint.peers.keys()])
      expect([...decoded.commands.keys()]).toEqual([...checkpoint.commands.keys()])
      for (const [id, snapshot] of checkpoint.commands) {
        const restored = decoded.commands.get(id)!
        expect(restored.value).toBe(snapshot.value)
        expect(restored.status).toBe(snapshot.status)
        expect(restored.context).toEqual(snapshot.context)
      }
      for (const [id, snapshot] of checkpoint.peers) expect(decoded.peers.get(id)!.value).toBe(snapshot.value)
      for (const [name, snapshot] of checkpoint.signals) expect(decoded.signals.get(name)!.value).toBe(snapshot.value)
    })

    it("writes only the part of a channel's seq index its snapshot can see", () => {
      const live = Projection.replay(log.slice(0, 333))
      const early = live.checkpoint()
      for (const event of log.slice(333)) live.apply(event)
      for (const stored of encodeCheckpoint(early).channels) {
        const { count, trimmed } = stored.context as { count: number; trimmed: number }
        expect((stored.context.seqs as Array<number>).length).toBe(count - trimmed)
        expect((stored.context.ats as Array<number>).length).toBe(count - trimmed)
      }
    })

    it("of an empty projection round-trips", () => {
      const empty = throughJson(new Projection().checkpoint())
      expect(empty.seq).toBe(0)
      expect(empty.at).toBeNull()
      expect(observe(Projection.fromCheckpoint(empty))).toEqual(observe(new Projection()))
    })

    it("refuses a format it does not know", () => {
      const stored = { ...encodeCheckpoint(checkpoint), format: 99 } as unknown as StoredCheckpoint
      expect(() => decodeCheckpoint(stored)).toThrow(/format 99/)
    })
  })

  describe("release order", () => {
    // heldBy() is ordered by send seq, so a release reports the same Changes live and after a restore.
    it("a release reports its Changes in the same order live and after a restore", () => {
      const events = store([
        connected("p1"),
        sent("c1", "worker"),
        sent("c2", "worker"),
        delivered("c2", "p1"),
        delivered("c1", "p1"),
        wentOffline("p1")
      ])
      const live = Projection.replay(events.slice(0, 5))
      const restored = Projection.fromCheckpoint(throughJson(live.checkpoint()))
      expect(restored.heldBy("p1").map((s) => s.context.id)).toEqual(live.heldBy("p1").map((s) => s.context.id))
      expect(restored.apply(events[5]!)).toEqual(live.apply(events[5]!))
    })
  })
})
