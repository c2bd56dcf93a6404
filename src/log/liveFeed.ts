import { Cause, Chunk, Effect, Runtime, Stream } from "effect"
import type { BrokerEvent } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"
import type { EventLogService } from "./EventLog.js"

/** Page size for catching a tail up from stored events before it follows live appends. */
const catchUpPage = 1024

/**
 * Test hooks of a log's live feed (every backend's): what its followers hear instead of a durable
 * batch, to fake a backend that loses or garbles an event on its way to them. The log itself, and
 * so every read, keeps the batch as it was appended.
 */
export interface FeedFaults {
  readonly published?: (batch: ReadonlyArray<BrokerEvent>) => ReadonlyArray<BrokerEvent>
}

/** Told of a listener that threw. */
export type ListenerFailed = (error: unknown) => void

const listenerFailedIn =
  (runtime: Runtime.Runtime<never>): ListenerFailed =>
  (error) =>
    void Runtime.runFork(runtime)(
      Effect.logError("a follower of the log threw on a batch; it goes on hearing the next ones", Cause.die(error))
    )

/**
 * Reports a listener's failure through the logger of the layer that builds the log: listeners run
 * inside the backend's commit, outside any Effect, and `--log-format json` must still apply.
 */
export const listenerFailures: Effect.Effect<ListenerFailed> = Effect.map(Effect.runtime<never>(), listenerFailedIn)

/**
 * The listeners of one log: each durable batch is handed to every listener in append order.
 * Backends own one and call `publish` after a batch is durable.
 */
export class LiveFeed {
  private readonly listeners = new Set<(batch: ReadonlyArray<BrokerEvent>) => void>()

  constructor(
    /** Without one (a log built outside a layer), Effect's default logger reports. */
    private readonly listenerFailed: ListenerFailed = listenerFailedIn(Runtime.defaultRuntime),
    private readonly faults: FeedFaults = {}
  ) {}

  publish(durable: ReadonlyArray<BrokerEvent>): void {
    const batch = this.faults.published?.(durable) ?? durable
    for (const listener of this.listeners) {
      // Listeners run inside the backend's commit; one that throws must not take the log down with it.
      try {
        listener(batch)
      } catch (error) {
        this.listenerFailed(error)
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

  /** A backend's `tail` and `follow`: this feed over the backend's own `read` and `head`. */
  readers(
    read: (from: number, to: number, limit: number) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>,
    head: Effect.Effect<number>
  ): Pick<EventLogService, "tail" | "follow"> {
    return {
      tail: (from) => this.tail(from, read, head),
      follow: (from, deliver, paced) => this.follow(from, read, head, deliver, paced)
    }
  }

  /** `follow` as a stream, for readers that want one: the same events, by the same rules. */
  tail(
    from: number,
    read: (from: number, to: number, limit: number) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>,
    head: Effect.Effect<number>
  ): Stream.Stream<BrokerEvent, LogUnavailable> {
    return Stream.asyncScoped<BrokerEvent, LogUnavailable>(
      (emit) =>
        Effect.acquireRelease(
          this.follow(from, read, head, (batch) => void emit.chunk(Chunk.unsafeFromArray(batch))),
          (stop) => Effect.sync(stop)
        ),
      "unbounded"
    )
  }
}
