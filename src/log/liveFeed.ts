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
    for (const listener of this.listeners) listener(batch)
  }

  subscribe(listener: (batch: ReadonlyArray<BrokerEvent>) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get size(): number {
    return this.listeners.size
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
