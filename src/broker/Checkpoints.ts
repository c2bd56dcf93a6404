import { Context, Effect, Either, Fiber, Layer, Runtime } from "effect"
import { decodeCheckpoint, encodeCheckpoint } from "../core/checkpointCodec.js"
import type { LogUnavailable } from "../core/errors.js"
import { Projection, type Checkpoint } from "../core/projection.js"
import { EventLog } from "../log/EventLog.js"
import { CheckpointStore } from "./CheckpointStore.js"
import { BrokerConfig } from "./Config.js"

/** In-memory checkpoints kept for time travel; when there are more, every other one is dropped. */
const maxInMemory = 256

/**
 * Snapshots of the projection along the log: the starting point at start-up (from the store) and
 * for `/status?at=` (in memory). Deleting any of them changes nothing but how much is replayed.
 */
export interface CheckpointsService {
  /** The projection to start from: the stored checkpoint if it matches the log, else empty. */
  readonly initial: Projection
  /** Called after every applied event. */
  readonly observe: (projection: Projection) => void
  /** The projection right after event `seq` (which must be stored). */
  readonly at: (seq: number) => Effect.Effect<Projection, LogUnavailable>
}

export class Checkpoints extends Context.Tag("claude-ipc-broker/Checkpoints")<Checkpoints, CheckpointsService>() {}

const empty: Checkpoint = new Projection().checkpoint()

export const makeCheckpoints = Effect.gen(function* () {
  const log = yield* EventLog
  const store = yield* CheckpointStore
  const config = yield* BrokerConfig
  const runtime = yield* Effect.runtime<never>()

  const stored = yield* store.load
  let start = empty
  if (stored) {
    // A checkpoint is used only if the log still has the event it was taken after, unchanged.
    const [event] = yield* log.read(stored.seq, stored.seq, 1)
    // A checkpoint that does not decode (unknown format, damaged) is ignored like a stale one.
    const decoded = event && event.at === stored.at ? Either.try(() => decodeCheckpoint(stored)) : undefined
    if (decoded && Either.isRight(decoded)) start = decoded.right
    else yield* Effect.logWarning(`checkpoint at seq ${stored.seq} does not match the log; replaying from the start`)
  }

  const kept: Array<Checkpoint> = [empty]
  if (start.seq > 0) kept.push(start)
  /** The background save in progress, if any: at most one at a time, awaited at shutdown. */
  let saving: Fiber.RuntimeFiber<void> | undefined
  let lastPersisted = start.seq

  const persist = (checkpoint: Checkpoint) => {
    lastPersisted = checkpoint.seq
    saving = Runtime.runFork(runtime)(
      store.save(encodeCheckpoint(checkpoint)).pipe(Effect.ensuring(Effect.sync(() => (saving = undefined))))
    )
  }

  let live: Projection | undefined
  const observe = (projection: Projection) => {
    live = projection
    if (projection.seq % config.checkpointEvery === 0) {
      kept.push(projection.checkpoint())
      if (kept.length > maxInMemory) {
        for (let i = kept.length - 2; i > 0; i -= 2) kept.splice(i, 1)
      }
    }
    if (saving === undefined && projection.seq - lastPersisted >= config.persistCheckpointEvery) {
      persist(projection.checkpoint())
    }
  }

  const at = (seq: number) =>
    Effect.suspend(() => {
      let from = kept[0]!
      for (const checkpoint of kept) if (checkpoint.seq <= seq && checkpoint.seq >= from.seq) from = checkpoint
      if (from.seq === seq) return Effect.succeed(Projection.fromCheckpoint(from))
      return Effect.map(log.read(from.seq + 1, seq), (events) => Projection.replay(events, from))
    })

  // Leave the newest state behind on a clean shutdown, so the next start replays nothing.
  // A save still writing is awaited first: once closed, nothing writes to the data dir any more.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => (saving === undefined ? Effect.void : Effect.asVoid(Fiber.await(saving)))).pipe(
      Effect.zipRight(
        Effect.suspend(() =>
          live && live.seq > lastPersisted ? store.save(encodeCheckpoint(live.checkpoint())) : Effect.void
        )
      )
    )
  )

  return Checkpoints.of({ initial: Projection.fromCheckpoint(start), observe, at })
})

export const CheckpointsLive = Layer.scoped(Checkpoints, makeCheckpoints)
