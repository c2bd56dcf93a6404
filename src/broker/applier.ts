import { Cause, Effect, Either, Schedule } from "effect"
import type { BrokerEvent } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"
import type { LogPosition } from "../log/EventLog.js"
import type { ProjectionFault } from "./metrics/Metrics.js"

/**
 * How the broker's state stands against its log: what `/healthz` answers. `repairing`: the live
 * feed skipped events and they are being re-read from the log (writes wait meanwhile);
 * `broken`: the state cannot follow the log any more (an event it could not apply, events it could
 * not re-read), so every write fails until the process is restarted.
 */
export type Health =
  | { readonly status: "ok" }
  | { readonly status: "repairing" | "broken"; readonly message: string }
  /**
   * Only on a shared log: the state follows the log, but this node's view is behind the stream (or
   * cannot reach it), so what it answers may be stale. Still 200: the node serves.
   */
  | { readonly status: "degraded"; readonly message: string; readonly head: number; readonly behind: number }

const healthy: Health = { status: "ok" }

/** A view this long behind a shared log is reported; a node that keeps up lags by milliseconds. */
export const degradedAfterMs = 1_000

/** /healthz of a node on a shared log whose state follows it: ok, or degraded while its view is behind. */
export const positionHealth = (position: LogPosition): Health => {
  const { head, behind, behindMs, connected } = position
  if (!connected) {
    return { status: "degraded", head, behind, message: `this node cannot reach the shared log; its view stops at seq ${head} and may be stale` }
  }
  if (behind === 0 || behindMs < degradedAfterMs) return healthy
  return {
    status: "degraded",
    head,
    behind,
    message:
      `this node's view is ${behind} event${behind === 1 ? "" : "s"} behind the shared log (at seq ${head} of ` +
      `${head + behind}) for ${(behindMs / 1000).toFixed(1)} s; its answers may be stale`
  }
}

/** Where an event stands against the last one applied: seen already, the next one, or past a gap. */
export const arrivalOf = (seq: number, applied: number): "duplicate" | "next" | "gap" =>
  seq <= applied ? "duplicate" : seq === applied + 1 ? "next" : "gap"

/** What applying a run of events in order came to. */
export type Outcome =
  | { readonly kind: "applied" }
  /** `rest`: the events from the first one past the gap on, not applied. */
  | { readonly kind: "gap"; readonly rest: ReadonlyArray<BrokerEvent> }
  | { readonly kind: "failed"; readonly message: string; readonly cause: Cause.Cause<unknown> }

/** "events 5 to 7", "event 5". */
export const eventsText = (from: number, to: number) => (from === to ? `event ${from}` : `events ${from} to ${to}`)

export interface ApplierOptions {
  /** The last seq the state holds. */
  readonly from: number
  /** Applies one event to the state and wakes what it concerns; throws only on a bug. */
  readonly apply: (event: BrokerEvent) => void
  /** Stored events `from..to`, to fill a gap. */
  readonly read: (from: number, to: number) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>
  /** Runs a repair (or a log line) from the synchronous feed, in the broker's runtime and scope. */
  readonly fork: (effect: Effect.Effect<void>) => void
  /** How a failed re-read is retried before the broker gives up. */
  readonly retry: Schedule.Schedule<unknown, LogUnavailable>
  /** A live event applied (not one replayed at start). */
  readonly applied?: (event: BrokerEvent) => void
  readonly fault: (kind: ProjectionFault) => void
  /** The state cannot follow the log any more; `message` says why. Called once. */
  readonly broke: (message: string) => void
}

/**
 * The one way into the state: events in seq order, each once. A duplicate is skipped (a follower
 * may hear an event twice across a reconnection). A gap — the feed skipped events, which a
 * backend's contract forbids but a bug could do — is not skipped over: live batches are held back
 * while the missing events are re-read from the log, then applied in order, so the writes waiting
 * for them answer. An event that throws as it is applied leaves the state half-changed; nothing after
 * it can be trusted, so the applier stops there for good and says so (`broke`).
 */
export const makeApplier = (options: ApplierOptions) => {
  let applied = options.from
  let health: Health = healthy
  /** Live batches held back while a gap is filled; undefined when applying as they come. */
  let held: Array<ReadonlyArray<BrokerEvent>> | undefined

  /** Applies `events` in order, as far as they follow on. */
  const applyRun = (events: ReadonlyArray<BrokerEvent>, live: boolean): Outcome => {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      const arrival = arrivalOf(event.seq, applied)
      if (arrival === "duplicate") continue
      if (arrival === "gap") return { kind: "gap", rest: events.slice(i) }
      try {
        options.apply(event)
      } catch (error) {
        return {
          kind: "failed",
          message: `event ${event.seq} (${event.type}) could not be applied to the state: ${messageOf(error)}`,
          cause: Cause.die(error)
        }
      }
      applied = event.seq
      if (live) options.applied?.(event)
    }
    return { kind: "applied" }
  }

  const isBroken = () => health.status === "broken"

  const breakDown = (kind: ProjectionFault, message: string, cause: Cause.Cause<unknown>) => {
    if (health.status === "broken") return
    health = { status: "broken", message }
    held = undefined
    options.fault(kind)
    options.fork(Effect.logError(`the broker's state stopped following its log: ${message}`, cause))
    options.broke(message)
  }

  /** Re-reads events `from..to`, which the feed skipped, and applies them; false if the state broke. */
  const fill = (from: number, to: number) =>
    Effect.gen(function* () {
      const missing = eventsText(from, to)
      health = { status: "repairing", message: `the state is behind its log: ${missing} never reached it; repairing it from the log` }
      options.fault("gap")
      yield* Effect.logError(`the log's feed skipped ${missing}; repairing the state from the log`)
      const read = yield* Effect.either(Effect.retry(options.read(from, to), options.retry))
      if (Either.isLeft(read)) {
        breakDown("repair_failed", `${missing} could not be re-read from the log: ${read.left.message}`, Cause.fail(read.left))
        return false
      }
      const outcome = applyRun(read.right, true)
      if (outcome.kind === "failed") breakDown("apply_failed", outcome.message, outcome.cause)
      else if (applied < to) breakDown("repair_failed", `the log does not hold ${eventsText(applied + 1, to)}`, Cause.empty)
      return !isBroken()
    })

  /**
   * Fills the gap up to `lostUpTo`, applies `pending` (the batch that showed the gap, if one did),
   * then the batches held back meanwhile, filling any further gap from the log the same way.
   */
  const repair = (lostUpTo: number, pending: ReadonlyArray<BrokerEvent> | undefined) =>
    Effect.gen(function* () {
      if (!(yield* fill(applied + 1, lostUpTo))) return
      let next = pending ?? held?.shift()
      while (next !== undefined) {
        const outcome = applyRun(next, true)
        if (outcome.kind === "failed") return breakDown("apply_failed", outcome.message, outcome.cause)
        if (outcome.kind === "gap") {
          if (!(yield* fill(applied + 1, outcome.rest[0]!.seq - 1))) return
          next = outcome.rest
        } else next = held?.shift()
      }
      if (isBroken()) return
      held = undefined
      health = healthy
      yield* Effect.logInfo(`the state has caught up with its log again, at seq ${applied}`)
    })

  /** Holds live batches back from now on, and repairs. */
  const startRepair = (lostUpTo: number, pending?: ReadonlyArray<BrokerEvent>) => {
    held = []
    options.fork(repair(lostUpTo, pending))
  }

  return {
    /** The last seq applied: a write whose event is at or below it may answer. */
    get applied() {
      return applied
    },
    get health(): Health {
      return health
    },
    /** Why the state stopped following the log, once it has. */
    get broken(): string | undefined {
      return health.status === "broken" ? health.message : undefined
    },

    /** Stored events read at start: applied as they are, or the reason the broker cannot start. */
    applyStored: (events: ReadonlyArray<BrokerEvent>): Outcome => applyRun(events, false),

    /** A live batch from the log's feed (synchronously, inside the backend's commit). */
    deliver: (batch: ReadonlyArray<BrokerEvent>): void => {
      if (health.status === "broken") return
      if (held !== undefined) {
        held.push(batch)
        return
      }
      const outcome = applyRun(batch, true)
      if (outcome.kind === "failed") breakDown("apply_failed", outcome.message, outcome.cause)
      else if (outcome.kind === "gap") startRepair(outcome.rest[0]!.seq - 1, outcome.rest)
    },

    /**
     * An append of this broker's answered with event `seq`. A log hands each batch to its feed
     * before the append answers, so if the event has not been applied, and no repair holds it back,
     * the feed lost it (and nothing after it has come to show the gap): it is read from the log.
     */
    appended: (seq: number): void => {
      if (applied < seq && held === undefined && !isBroken()) startRepair(seq)
    }
  }
}

export type Applier = ReturnType<typeof makeApplier>

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))
