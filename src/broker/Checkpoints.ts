import { Context, Effect, Either, Fiber, Layer, Runtime } from "effect"
import { CheckpointChain } from "../core/checkpointChain.js"
import { CheckpointDecoder, DeltaEncoder, encodeCheckpoint } from "../core/checkpointCodec.js"
import type { LogUnavailable } from "../core/errors.js"
import { Projection, type Checkpoint, type CheckpointDelta } from "../core/projection.js"
import { EventLog, type EventLogService } from "../log/EventLog.js"
import { CheckpointStore, type CheckpointChainStoreService } from "./CheckpointStore.js"
import { BrokerConfig } from "./Config.js"

/** Spaced checkpoints kept for time travel; beyond this many, neighbours are merged (spacing doubles). */
const maxSpaced = 4096

/**
 * Snapshots of the projection along the log: the starting point at start-up (the stored checkpoint
 * or the newest of the chain) and for `/status?at=` (the chain of spaced checkpoints, kept in memory
 * and in the data dir). Deleting any of them changes nothing but how much is replayed.
 */
export interface CheckpointsService {
  /** The projection to start from: the newest stored checkpoint that matches the log, else empty. */
  readonly initial: Projection
  /** Called after every applied event. */
  readonly observe: (projection: Projection) => void
  /**
   * The live projection can no longer be trusted (an event failed halfway through being applied):
   * no checkpoint is taken of it any more, not even at shutdown, so that the next start replays
   * the log rather than trusting a damaged state.
   */
  readonly forget: () => void
  /** The projection right after event `seq` (which must be stored). */
  readonly at: (seq: number) => Effect.Effect<Projection, LogUnavailable>
}

export class Checkpoints extends Context.Tag("claude-ipc-broker/Checkpoints")<Checkpoints, CheckpointsService>() {}

const empty: Checkpoint = new Projection().checkpoint()

/** Whether the log still has, unchanged, the event each checkpoint was taken after. */
const matchesLog = (log: EventLogService, taken: ReadonlyArray<{ readonly seq: number; readonly at: string | null }>) =>
  Effect.gen(function* () {
    const head = yield* log.head
    const within = taken.filter((checkpoint) => checkpoint.seq <= head)
    const events = yield* log.readSeqs(within.map((checkpoint) => checkpoint.seq))
    // The longest prefix that matches: after a mismatch, nothing can be trusted.
    let matching = 0
    while (matching < within.length && events[matching]?.seq === within[matching]!.seq && events[matching]!.at === within[matching]!.at) {
      matching++
    }
    return matching
  })

/** The stored chain, decoded, as far as it follows on and matches the log. */
const loadChain = (log: EventLogService, store: CheckpointChainStoreService | undefined) =>
  Effect.gen(function* () {
    const chain = new CheckpointChain(maxSpaced)
    if (store === undefined) return { chain, rewrite: false }
    // Decoded as they are read, as far as they decode and follow on from one another.
    const decoder = new CheckpointDecoder()
    const deltas: Array<CheckpointDelta> = []
    const { read, whole } = yield* store.load((stored) => {
      const decoded = Either.try(() => decoder.delta(stored))
      if (Either.isLeft(decoded)) return false
      deltas.push(decoded.right)
      return true
    })
    const matching = yield* matchesLog(log, deltas)
    for (const delta of deltas.slice(0, matching)) chain.add(delta)
    // Compared with what matched, not with the chain's size: loading may thin the chain.
    if (matching < read) {
      yield* Effect.logWarning(`${read - matching} of ${read} stored spaced checkpoints do not match the log; dropped`)
    }
    return { chain, rewrite: chain.size < read || !whole }
  })

export const makeCheckpoints = Effect.gen(function* () {
  const log = yield* EventLog
  const store = yield* CheckpointStore
  const config = yield* BrokerConfig
  const runtime = yield* Effect.runtime<never>()

  const { chain, rewrite } = yield* loadChain(log, store.chain)
  // Where a chain is kept, its newest checkpoint is the start point (it shares its snapshots with
  // the chain, so the history costs no second copy); checkpoint.json is read only without one (a
  // data dir from before the chain, or a store that keeps none).
  const stored = chain.size > 0 ? undefined : yield* store.load
  let start = chain.size > 0 ? chain.at(chain.last)! : empty
  if (stored && stored.seq > start.seq) {
    // A checkpoint is used only if the log still has the event it was taken after, unchanged.
    // One that does not decode (unknown format, damaged) is ignored like a stale one.
    const decoded = (yield* matchesLog(log, [stored])) === 1 ? Either.try(() => new CheckpointDecoder().checkpoint(stored)) : undefined
    if (decoded && Either.isRight(decoded)) start = decoded.right
    else yield* Effect.logWarning(`checkpoint at seq ${stored.seq} does not match the log; replaying from seq ${start.seq}`)
  }

  /** Background writes to the data dir, one at a time, in order; the last one ends after all. */
  let writing: Fiber.RuntimeFiber<void> | undefined
  let pendingWrites = 0
  const write = (effect: Effect.Effect<void>) => {
    const previous = writing
    pendingWrites++
    writing = Runtime.runFork(runtime)(
      (previous === undefined ? effect : Effect.zipRight(Fiber.await(previous), effect)).pipe(
        Effect.ensuring(Effect.sync(() => pendingWrites--))
      )
    )
  }

  /** Follows the chain as stored: each channel's seqs since the previous stored delta. */
  let encoder = new DeltaEncoder()
  /** Set when an append failed: the file may miss a delta, so the next one rewrites it whole. */
  let storedChainBroken = false
  const afterWrite = (ok: boolean) =>
    Effect.sync(() => {
      if (!ok) storedChainBroken = true
    })
  /**
   * Deltas taken but not yet appended to the stored chain. One queued write takes all of them, and
   * encodes them only then: a long replay takes deltas faster than the disk appends them, and a
   * write queued per delta (each holding its encoded text) piled up tens of megabytes.
   */
  let unwritten: Array<CheckpointDelta> = []
  const appendToStoredChain = (delta: CheckpointDelta) => {
    const chainStore = store.chain
    if (!chainStore) return
    unwritten.push(delta)
    if (unwritten.length > 1) return
    write(
      Effect.suspend(() => {
        const batch = unwritten
        unwritten = []
        return batch.length === 0
          ? Effect.void
          : Effect.flatMap(chainStore.append(batch.map((taken) => encoder.delta(taken))), afterWrite)
      })
    )
  }
  const storeWholeChain = () => {
    // Without a store (memory and replay logs) there is nothing to encode the chain for.
    if (!store.chain) return
    unwritten = []
    encoder = new DeltaEncoder()
    const all = chain.deltas.map((delta) => encoder.delta(delta))
    storedChainBroken = false
    write(Effect.flatMap(store.chain.replace(all), afterWrite))
  }
  if (rewrite) storeWholeChain()
  else for (const delta of chain.deltas) encoder.follow(delta)

  /** The chain continues from `start` only if its newest checkpoint is `start`; else a full one first. */
  let nextDeltaIsFull = chain.last !== start.seq
  const takeSpaced = (projection: Projection) => {
    if (projection.seq <= chain.last) return
    const delta = projection.takeDelta(nextDeltaIsFull)
    nextDeltaIsFull = false
    const { thinned } = chain.add(delta)
    if (thinned || storedChainBroken) storeWholeChain()
    else appendToStoredChain(delta)
  }

  let lastPersisted = start.seq
  let live: Projection | undefined
  let forgotten = false
  const observe = (projection: Projection) => {
    if (forgotten) return
    live = projection
    if (projection.seq % config.checkpointEvery === 0) takeSpaced(projection)
    if (!store.chain && pendingWrites === 0 && projection.seq - lastPersisted >= config.persistCheckpointEvery) {
      lastPersisted = projection.seq
      write(store.save(encodeCheckpoint(projection.checkpoint())))
    }
  }

  const at = (seq: number) =>
    Effect.suspend(() => {
      const spaced = chain.at(seq)
      let from = start.seq <= seq ? start : empty
      if (spaced && spaced.seq >= from.seq) from = spaced
      if (from.seq === seq) return Effect.succeed(Projection.fromCheckpoint(from))
      return Effect.map(log.read(from.seq + 1, seq), (events) => Projection.replay(events, from))
    })

  // Leave the newest state behind on a clean shutdown, so the next start replays nothing.
  // Writes still going are awaited first: once closed, nothing writes to the data dir any more.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      if (live && store.chain) takeSpaced(live)
      // Also the whole state: a start without the chain (deleted, or read by an older version) stays short.
      if (live && live.seq > lastPersisted) write(store.save(encodeCheckpoint(live.checkpoint())))
      if (writing !== undefined) yield* Fiber.await(writing)
    })
  )

  const forget = () => {
    forgotten = true
    live = undefined
  }

  return Checkpoints.of({ initial: Projection.fromCheckpoint(start), observe, forget, at })
})

export const CheckpointsLive = Layer.scoped(Checkpoints, makeCheckpoints)
