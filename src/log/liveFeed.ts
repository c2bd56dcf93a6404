import { Chunk, Effect, Option, Queue, Stream } from "effect"
import type { BrokerEvent } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"

/** Page size for catching a tail up from stored events before it follows live appends. */
const catchUpPage = 1024

/**
 * The listeners of one log: each durable batch is handed to every listener in append order.
 * Backends own one and call `publish` after a batch is durable.
 */
export class LiveFeed {
  private readonly listeners = new Set<(batch: ReadonlyArray<BrokerEvent>) => void>()

  publish(batch: ReadonlyArray<BrokerEvent>): void {
    for (const listener of this.listeners) {
      // Listeners run inside the backend's commit; one that throws must not take the log down with it.
      try {
        listener(batch)
      } catch (error) {
        console.error("log listener failed", error)
      }
    }
  }

  subscribe(listener: (batch: ReadonlyArray<BrokerEvent>) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get size(): number {
    return this.listeners.size
  }

  /**
   * `tail(from)` without a stream: every event from `from` on, stored then live, handed to `deliver`
   * a batch at a time — live batches synchronously, as the backend publishes each durable one, so a
   * follower costs a function call per batch rather than stream machinery per event. Same order and
   * no-gap, no-repeat rule as `tail`. The effect ends once caught up; the returned function stops it.
   * `deliver` must not throw: it runs inside the backend's commit. Each stored page is read once
   * `paced` has let the previous one through (a slow reader holds back its own catch-up).
   */
  follow(
    from: number,
    read: (from: number, to: number, limit: number) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>,
    head: Effect.Effect<number>,
    deliver: (batch: ReadonlyArray<BrokerEvent>) => void,
    paced: Effect.Effect<void> = Effect.void
  ): Effect.Effect<() => void, LogUnavailable> {
    return Effect.suspend(() => {
      let next = Math.max(1, from)
      // Live batches that arrive while the stored ones are read wait here, in order.
      let waiting: Array<ReadonlyArray<BrokerEvent>> | undefined = []
      const pass = (batch: ReadonlyArray<BrokerEvent>) => {
        if (batch.length === 0 || batch[batch.length - 1]!.seq < next) return
        const fresh = batch[0]!.seq >= next ? batch : batch.filter((event) => event.seq >= next)
        next = fresh[fresh.length - 1]!.seq + 1
        deliver(fresh)
      }
      const unsubscribe = this.subscribe((batch) => (waiting === undefined ? pass(batch) : waiting.push(batch)))
      const catchUp = Effect.gen(function* () {
        const stored = yield* head
        while (next <= stored) {
          const page = yield* read(next, stored, catchUpPage)
          if (page.length === 0) break
          pass(page)
          yield* paced
        }
        for (const batch of waiting!) pass(batch)
        waiting = undefined
        return unsubscribe
      })
      return Effect.onError(catchUp, () => Effect.sync(unsubscribe))
    })
  }

  /**
   * `tail(from)` for any backend: listen first, then page through what is stored, then drain what
   * arrived meanwhile. Events seen twice (stored and live) are dropped by seq, so there is no gap
   * and no repeat.
   */
  tail(
    from: number,
    read: (from: number, to: number, limit: number) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>,
    head: Effect.Effect<number>
  ): Stream.Stream<BrokerEvent, LogUnavailable> {
    return Stream.unwrapScoped(
      Effect.gen(this, function* () {
        const live = yield* Queue.unbounded<ReadonlyArray<BrokerEvent>>()
        const unsubscribe = this.subscribe((batch) => Queue.unsafeOffer(live, batch))
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
        const stored = yield* head
        let next = Math.max(1, from)
        const history = Stream.paginateChunkEffect(next, (cursor) =>
          cursor > stored
            ? Effect.succeed([Chunk.empty<BrokerEvent>(), Option.none<number>()] as const)
            : Effect.map(read(cursor, stored, catchUpPage), (events) => {
                const after = events.length === 0 ? stored + 1 : events[events.length - 1]!.seq + 1
                return [Chunk.unsafeFromArray(events), after > stored ? Option.none() : Option.some(after)] as const
              })
        ).pipe(Stream.tap((event) => Effect.sync(() => (next = event.seq + 1))))
        const following = Stream.fromQueue(live).pipe(
          Stream.flattenIterables,
          Stream.filter((event) => {
            if (event.seq < next) return false
            next = event.seq + 1
            return true
          })
        )
        return Stream.concat(history, following)
      })
    )
  }
}
