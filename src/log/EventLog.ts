import { Context, Data, type Effect, type Either, type Stream } from "effect"
import type { BrokerEvent, EventDraft } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"

/**
 * The one store of record. Every backend (memory, file, and later a distributed one) keeps the same
 * contract, checked by test/log/contract.test.ts:
 *
 * - `append` assigns dense sequence numbers from 1 and a non-decreasing `at`, and succeeds only once
 *   the events are durable for that backend. A batch is appended contiguously, in order.
 * - `read(from, to)` returns the stored events with `from <= seq <= to` (to defaults to the head),
 *   in order, at most `limit` of them.
 * - `readSeqs` returns the events at the given positions, in the order asked.
 * - `tail(from)` emits every event with `seq >= from`, first those already stored, then each new one
 *   once it is durable, with no gap and no repeat, until the stream is interrupted.
 * - `follow(from, deliver)` is `tail` for hot paths: the same events, handed over a batch at a time,
 *   live batches synchronously as each becomes durable (before `append` answers). It succeeds once
 *   caught up, with the function that stops it.
 * - `head` is the seq of the last durable event, 0 for an empty log.
 * - `appendWith`, where a backend has it, is `append` for the synchronous hot path: the same
 *   append, its outcome handed to a callback (after the followers have heard of the events, as
 *   `append` answers) instead of an Effect to run. The Broker adapts a backend without it.
 *
 * A log shared by several broker processes (JetStream) relaxes one clause and adds one member:
 * another process's events may land between the events of one multi-event batch (a batch is still
 * in order, and contiguous among this process's own appends), and `appendIfHead` makes an append
 * conditional on nothing else having been appended since a given seq. docs/scaling.md explains why.
 */
export interface EventLogService {
  /** "memory" | "file" | …, shown in /status. */
  readonly backend: string
  readonly append: (drafts: ReadonlyArray<EventDraft>) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>
  readonly appendWith?: (drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void) => void
  readonly read: (
    from: number,
    to?: number,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>
  readonly readSeqs: (seqs: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>
  readonly tail: (from: number) => Stream.Stream<BrokerEvent, LogUnavailable>
  readonly follow: (
    from: number,
    deliver: (batch: ReadonlyArray<BrokerEvent>) => void,
    paced?: Effect.Effect<void>
  ) => Effect.Effect<() => void, LogUnavailable>
  readonly head: Effect.Effect<number>
  /**
   * Only on logs that other broker processes append to: append `drafts` only if the log's last seq
   * is still `expectedHead` (JetStream's expected-last-sequence), else fail with HeadMoved. The
   * sweeper uses it so that a decision taken on the state at seq S lands right after S or not at all.
   */
  readonly appendIfHead?: (
    expectedHead: number,
    drafts: ReadonlyArray<EventDraft>
  ) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable | HeadMoved>
  /** Only on shared logs: where this node's view stands against the log (X-Log-Head, /healthz). */
  readonly position?: () => LogPosition
  /**
   * Only on shared logs, and only where the backend has an ephemeral channel beside the log (core
   * NATS beside JetStream): signs of life of peers, gossiped between the broker nodes instead of
   * being recorded (src/broker/liveness.ts). Nothing sent here is stored or replayed, and a node cut
   * off from it misses what was said meanwhile. A shared log without it records heartbeats instead.
   */
  readonly signsOfLife?: SignsOfLife
}

/** One sign of life as gossiped: a peer of a project was seen by the sender `ageMs` before it sent. */
export type SignOfLife = readonly [project: string, peerId: string, ageMs: number]

/**
 * The ephemeral side channel of a shared log (see `signsOfLife`). Ages rather than times, so that
 * the nodes' clocks need not agree: a receiver takes "seen `ageMs` before I heard it".
 */
export interface SignsOfLife {
  /** Tell the other nodes, best effort (split into messages as large as the channel allows). */
  readonly publish: (signs: ReadonlyArray<SignOfLife>) => void
  /**
   * Hear the other nodes' signs of life (never this node's own), with the time each batch arrived;
   * and `reconnected` once this node is back after a cut-off during which it may have missed some.
   * Returns the way to stop listening.
   */
  readonly listen: (
    heard: (signs: ReadonlyArray<SignOfLife>, receivedAt: number) => void,
    reconnected: () => void
  ) => () => void
  /** False while the channel is down: what is published then would arrive late, so wait. */
  readonly connected: () => boolean
}

/**
 * Where a node's view of a shared log stands (logs that other processes append to): the last seq it
 * has applied, the log's last seq as far as the node has heard, and how long it has been behind.
 */
export interface LogPosition {
  readonly head: number
  readonly streamHead: number
  /** streamHead − head: events stored that this node has not applied yet. */
  readonly behind: number
  /** How long the view has been behind (0 when it is not). */
  readonly behindMs: number
  /** False while the node cannot reach the shared log (it then cannot know how far behind it is). */
  readonly connected: boolean
}

/** How an append went: its stored events, or why nothing was stored. */
export type Appended = Either.Either<ReadonlyArray<BrokerEvent>, LogUnavailable>

/** A conditional append found events after the head it expected; `head` is the log's last seq then. */
export class HeadMoved extends Data.TaggedError("HeadMoved")<{ readonly head: number }> {}

export class EventLog extends Context.Tag("claude-ipc-broker/EventLog")<EventLog, EventLogService>() {}
