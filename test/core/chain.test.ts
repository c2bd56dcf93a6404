import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CheckpointChain } from "../../src/core/checkpointChain.js"
import { CheckpointDecoder, DeltaEncoder, type StoredDelta } from "../../src/core/checkpointCodec.js"
import type { BrokerEvent } from "../../src/core/events.js"
import { Projection, type CheckpointDelta } from "../../src/core/projection.js"
import { fullView, heldAtsOf, seqIndexOf } from "./given.js"
import { generateLog } from "./generate.js"

const observe = (projection: Projection) => ({
  state: fullView(projection),
  seqs: [...projection.channels].map(([name, snapshot]) => [name, seqIndexOf(snapshot), heldAtsOf(snapshot)]),
  tokens: [...projection.tokens.values()]
})

/** The deltas a live projection gives every `every` events, from a projection already at `from`. */
const liveDeltas = (events: ReadonlyArray<BrokerEvent>, every: number, from = 0): Array<CheckpointDelta> => {
  const live = from === 0 ? new Projection() : Projection.fromCheckpoint(Projection.replay(events.slice(0, from)).checkpoint())
  const deltas: Array<CheckpointDelta> = from === 0 ? [] : [live.takeDelta(true)]
  for (const event of events.slice(from)) {
    live.apply(event)
    if (event.seq % every === 0) deltas.push(live.takeDelta())
  }
  return deltas
}

/** The deltas written to checkpoints.ndjson and read back. */
const throughJson = (deltas: ReadonlyArray<CheckpointDelta>): Array<CheckpointDelta> => {
  const encoder = new DeltaEncoder()
  const decoder = new CheckpointDecoder()
  return deltas.map((delta) => decoder.delta(JSON.parse(JSON.stringify(encoder.delta(delta))) as StoredDelta))
}

const chainOf = (deltas: ReadonlyArray<CheckpointDelta>, maxEntries: number) => {
  const chain = new CheckpointChain(maxEntries)
  for (const delta of deltas) expect(chain.add(delta).kept).toBe(true)
  return chain
}

/** Every position of the log, from the chain's nearest checkpoint plus the events after it, equals the fold from 0. */
const expectSameAsFold = (events: ReadonlyArray<BrokerEvent>, chain: CheckpointChain, firstCovered = 0) => {
  for (let seq = firstCovered; seq <= events.length; seq++) {
    const from = chain.at(seq)
    if (from === undefined) {
      expect(seq).toBeLessThan(chain.deltas[0]!.seq)
      continue
    }
    expect(from.seq).toBeLessThanOrEqual(seq)
    const resumed = Projection.replay(events.slice(from.seq, seq), from)
    expect(observe(resumed), `seq ${seq} from ${from.seq}`).toEqual(observe(Projection.replay(events.slice(0, seq))))
  }
}

describe("the chain of spaced checkpoints", () => {
  it("answers every position like a fold from seq 0: live, through JSON, thinned, with and without resets", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 12 }),
        fc.boolean(),
        (seed, every, maxEntries, withReset) => {
          const count = 160
          const events = generateLog({ seed, count, ...(withReset ? { resetAt: 90 } : {}) })
          const deltas = liveDeltas(events, every)
          expectSameAsFold(events, chainOf(deltas, 1024))
          expectSameAsFold(events, chainOf(throughJson(deltas), 1024))
          const thinned = chainOf(deltas, maxEntries)
          expect(thinned.size).toBeLessThanOrEqual(maxEntries)
          expectSameAsFold(events, thinned)
        }
      ),
      { numRuns: 12 }
    )
  })

  it("a chain begun from a checkpoint (a full delta first) covers the log from there", () => {
    const events = generateLog({ seed: 99, count: 200, resetAt: 150 })
    const deltas = liveDeltas(events, 7, 60)
    expect(deltas[0]!.base).toBe(true)
    expect(deltas[0]!.seq).toBe(60)
    const chain = chainOf(throughJson(deltas), 1024)
    expect(chain.at(59)).toBeUndefined()
    expectSameAsFold(events, chain, 60)
  })

  it("keeps only deltas that follow on: newer than the last, and a base first", () => {
    const events = generateLog({ seed: 5, count: 50 })
    const deltas = liveDeltas(events, 10)
    const chain = new CheckpointChain()
    expect(chain.add({ ...deltas[1]!, base: false }).kept).toBe(false)
    expect(chain.add(deltas[0]!).kept).toBe(true)
    expect(chain.add(deltas[0]!).kept).toBe(false)
    expect(chain.last).toBe(10)
  })

  it("a delta whose channel does not continue the previous one does not decode", () => {
    const events = generateLog({ seed: 14, count: 120 })
    const encoder = new DeltaEncoder()
    const stored = liveDeltas(events, 20).map((delta) => encoder.delta(delta))
    const decoder = new CheckpointDecoder()
    decoder.delta(stored[0]!)
    // The second delta skipped: the third's channels start where the second left them.
    expect(() => stored.slice(2).forEach((delta) => decoder.delta(delta))).toThrow(/does not follow on/)
  })
})
