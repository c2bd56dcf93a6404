import { Cause, Chunk, Clock, Context, Deferred, Effect, Either, Exit, FiberSet, Layer, Option, Runtime, Schedule, Stream } from "effect"
import * as Channels from "../core/decide/channels.js"
import * as Commands from "../core/decide/commands.js"
import type { Decision } from "../core/decide/decision.js"
import { recorded } from "../core/decide/decision.js"
import * as Peers from "../core/decide/peers.js"
import * as Signals from "../core/decide/signals.js"
import * as System from "../core/decide/system.js"
import * as Tokens from "../core/decide/tokens.js"
import { tokenView, type TokenRecord, type TokenView } from "../core/tokens.js"
import type { BrokerEvent, EventDraft, MessageSent } from "../core/events.js"
import { BadRequest, Conflict, Forbidden, LogUnavailable, NotFound, TooManyWaits, type BrokerError } from "../core/errors.js"
import { firstId, heldCount, messageIdAt, type KeyedMessage } from "../core/machines/channel.js"
import { commandStatus, isSettled, type CommandSnapshot, type CommandStatus } from "../core/machines/command.js"
import type { PeerSnapshot } from "../core/machines/peer.js"
import type { SignalSnapshot } from "../core/machines/signal.js"
import type { Change } from "../core/projection.js"
import type { ProjectView } from "../core/projectView.js"
import { defaultProject, inProject, projectOf } from "../core/projects.js"
import {
  channelView,
  commandDetail,
  commandView,
  messageView,
  peerView,
  recentCommands,
  signalView,
  stateView,
  type ChannelView,
  type CommandDetail,
  type CommandView,
  type MessageView,
  type PeerView,
  type SignalView,
  type StateView
} from "../core/views.js"
import { type Appended, EventLog, type SignOfLife } from "../log/EventLog.js"
import { makeApplier, positionHealth, type Health } from "./applier.js"
import { gossipEveryMs, Liveness, recordEveryMs } from "./liveness.js"
import { BrokerConfig } from "./Config.js"
import { newCommandId, newPeerId } from "./ids.js"
import { hashSecret, newSecret } from "./secrets.js"
import { Checkpoints } from "./Checkpoints.js"
import { Metrics } from "./metrics/Metrics.js"
import { Notices, type NoticeListener } from "./notices.js"
import { version } from "../version.js"
import { type Cancel, fromCallback, ParkedWaits, type WaitResult } from "./parking.js"
import { Waiters } from "./waiters.js"
import { oneAtATime } from "./oneAtATime.js"

export type { Cancel, WaitResult } from "./parking.js"

export interface ConnectRequest {
  readonly id?: string | undefined
  readonly role: string
  readonly capabilities: ReadonlyArray<string>
  readonly name?: string | null | undefined
}

export interface SendCommandRequest {
  readonly from: string
  readonly target: string
  readonly action: string
  readonly params?: unknown
  readonly ttlMs?: number | null | undefined
  /** `Idempotency-Key`: a repeat from the same sender within 24 hours answers the original. */
  readonly idempotencyKey?: string | undefined
}

/** A channel send's answer: the message, and `duplicate: true` when it is an earlier send's (same idempotency key). */
export type PostedMessage = MessageView & { readonly duplicate?: true }

/** A send's answer: the command, and `duplicate: true` when it is an earlier send's (same idempotency key). */
export type SentCommand = CommandView & { readonly duplicate?: true }

/** `firstId` above `since + 1` means retention dropped messages the reader had not read. */
export interface MintRequest {
  readonly name: string
  readonly project: string
  readonly role: string
  readonly boundRole?: string | undefined
}

/** A token just minted: the only time its secret is ever shown. */
export interface MintedToken extends TokenView {
  readonly token: string
}

export interface MessagesPage {
  readonly messages: ReadonlyArray<MessageView>
  /** The oldest id the channel still holds (1 for an unknown channel; lastId + 1 when it holds none). */
  readonly firstId: number
  readonly lastId: number
}

export interface Status extends StateView {
  readonly log: { readonly head: number; readonly backend: string }
  readonly startedAt: string
  readonly version: string
}

type Fails<A> = Effect.Effect<A, LogUnavailable | NotFound>
type Waits<A, E = never> = Effect.Effect<WaitResult<A>, E | TooManyWaits>

/** Told once how a direct call went. */
export type Done<A, E> = (result: Either.Either<A, E>) => void

/**
 * The hot requests without a fiber: the same decisions, appends and waits as the Effect methods of
 * the same names (which are these, wrapped), with the outcome handed to `done`, once. Each call
 * decides on the state as it is when the call is made; `done` may be called before the call
 * returns. A wait returns the function that ends it without an answer (its client went away).
 */
export interface DirectBroker {
  readonly publish: (
    channel: string,
    from: string | null,
    message: unknown,
    done: Done<PostedMessage, LogUnavailable | Conflict>,
    idempotencyKey?: string | undefined
  ) => void
  readonly sendCommand: (request: SendCommandRequest, done: Done<SentCommand, LogUnavailable | Conflict>) => void
  readonly waitForCommand: (
    peerId: string,
    timeoutMs: number,
    done: Done<WaitResult<CommandView>, LogUnavailable | NotFound | TooManyWaits>
  ) => Cancel
  readonly ack: (
    commandId: string,
    outcome: { readonly ok: boolean; readonly result: unknown; readonly by: string | null },
    done: Done<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  ) => void
  readonly waitForResult: (
    commandId: string,
    timeoutMs: number,
    done: Done<WaitResult<CommandView>, LogUnavailable | NotFound | TooManyWaits>
  ) => Cancel
}

const noop: Cancel = () => {}

/** `next` applied to a success, a failure passed on as it is. */
const andThen =
  <A, B, E1, E2>(done: Done<B, E1 | E2>, next: (value: A) => Either.Either<B, E2>) =>
  (result: Either.Either<A, E1>): void =>
    done(Either.isLeft(result) ? Either.left(result.left) : next(result.right))

/** A direct call that answers once, as an Effect (interrupting it only stops listening). */
const once = <A, E>(start: (done: Done<A, E>) => void): Effect.Effect<A, E> =>
  fromCallback<A, E>((done) => {
    start(done)
    return noop
  })

/**
 * The broker: each request is decided against the projection (src/core/decide: the events that
 * follow, or the error that refuses it), its events appended, and the answer given once the
 * projection has applied them. Waits park on indexes of the projection (parking.ts) and are woken
 * by the changes applied events cause.
 */
export interface BrokerService {
  readonly connect: (request: ConnectRequest) => Effect.Effect<PeerView, LogUnavailable | Conflict>
  readonly heartbeat: (peerId: string) => Fails<PeerView>
  readonly disconnect: (peerId: string, reason?: "disconnected" | "session_closed") => Fails<PeerView>
  readonly peers: Effect.Effect<ReadonlyArray<PeerView>>
  readonly peer: (peerId: string) => Effect.Effect<PeerView, NotFound>

  readonly sendCommand: (request: SendCommandRequest) => Effect.Effect<SentCommand, LogUnavailable | Conflict>
  readonly commandsFor: (peerId: string) => Effect.Effect<ReadonlyArray<CommandView>, NotFound>
  readonly waitForCommand: (peerId: string, timeoutMs: number) => Waits<CommandView, LogUnavailable | NotFound>
  readonly ack: (
    commandId: string,
    outcome: { readonly ok: boolean; readonly result: unknown; readonly by: string | null }
  ) => Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  readonly cancel: (
    commandId: string,
    by: string | null
  ) => Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  readonly command: (commandId: string) => Effect.Effect<CommandView, NotFound>
  /** A dead, failed or expired command back to pending, by a person (not a peer). */
  readonly redeliver: (
    commandId: string,
    by: string | null
  ) => Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  /** A held command let through to pending, or refused (`rejected`), by a person (not a peer). */
  readonly approve: (
    commandId: string,
    by: string | null
  ) => Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  readonly reject: (
    commandId: string,
    by: string | null
  ) => Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
  /** A command with its attempts and history, now or (`at`) right after event `at` of the log. */
  readonly commandDetail: (
    commandId: string,
    at?: number | undefined
  ) => Effect.Effect<CommandDetail, LogUnavailable | NotFound | BadRequest>
  readonly waitForResult: (commandId: string, timeoutMs: number) => Waits<CommandView, LogUnavailable | NotFound>
  readonly commands: (options: { readonly status?: CommandStatus | undefined; readonly limit: number }) => Effect.Effect<
    ReadonlyArray<CommandView>
  >

  readonly publish: (
    channel: string,
    from: string | null,
    message: unknown,
    idempotencyKey?: string | undefined
  ) => Effect.Effect<PostedMessage, LogUnavailable | Conflict>
  readonly readMessages: (
    channel: string,
    options: { readonly since: number; readonly limit: number; readonly timeoutMs: number }
  ) => Effect.Effect<MessagesPage, LogUnavailable | TooManyWaits>
  readonly channels: Effect.Effect<ReadonlyArray<ChannelView>>

  readonly fire: (name: string, data: unknown, by: string | null) => Effect.Effect<SignalView, LogUnavailable>
  readonly signal: (name: string) => Effect.Effect<SignalView>
  readonly waitForSignal: (name: string, timeoutMs: number) => Waits<SignalView>
  readonly clearSignal: (name: string) => Effect.Effect<SignalView, LogUnavailable>
  readonly signals: Effect.Effect<ReadonlyArray<SignalView>>

  readonly reset: (by: string | null) => Effect.Effect<void, LogUnavailable>

  /** Mints a scoped token (src/core/decide/tokens.ts); only its hash goes to the log. */
  readonly mintToken: (request: MintRequest) => Effect.Effect<MintedToken, LogUnavailable | BadRequest | Conflict>
  readonly revokeToken: (name: string) => Effect.Effect<TokenView, LogUnavailable | NotFound>
  readonly tokens: Effect.Effect<ReadonlyArray<TokenView>>
  /** The live scoped token a presented secret is, if any: the guard's lookup, synchronous on purpose. */
  readonly tokenFor: (secret: string) => TokenRecord | undefined
  /** Appends decisions taken outside a request (the sweeper's) and waits until they are applied. */
  readonly record: (drafts: ReadonlyArray<EventDraft>) => Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable>
  /**
   * `record` for decisions taken on the state at `seq`: on a log other broker nodes append to, they
   * land only if nothing was appended after `seq`, else the answer is false (once the projection has
   * caught up, so the caller can decide again). On a log of this process alone it is `record`.
   */
  readonly recordIfHead: (seq: number, drafts: ReadonlyArray<EventDraft>) => Effect.Effect<boolean, LogUnavailable>
  readonly status: Effect.Effect<Status>
  /** The state right after event `seq`; BadRequest beyond the head. */
  readonly statusAt: (seq: number) => Effect.Effect<Status, LogUnavailable | BadRequest>
  /**
   * A place among the live event streams (SSE), decided now: TooManyWaits when all are taken, so a
   * refused client can get a proper 429. The place is held until `leave` is called.
   */
  readonly openStream: Effect.Effect<{ readonly leave: () => void }, TooManyWaits>
  /**
   * Every event from `from` on, stored then live: the log itself, for SSE, handed to `deliver` a
   * batch at a time (see EventLog.follow). Stored pages are read one after another once `paced`
   * lets the previous one through, so a reader far behind is fed as fast as it reads.
   */
  readonly follow: (
    from: number,
    deliver: (batch: ReadonlyArray<BrokerEvent>) => void,
    paced: Effect.Effect<void>
  ) => Effect.Effect<() => void, LogUnavailable>
  readonly exportLog: (from: number, to: number) => Stream.Stream<BrokerEvent, LogUnavailable>
  readonly head: Effect.Effect<number>
  /** Parked long-polls, for the sweeper (a peer parked in a wait is alive) and for metrics. */
  readonly activeWaits: (peerId: string) => number
  readonly stats: Effect.Effect<{ readonly waits: number; readonly subscribers: number }>
  /** This project's state, by its names (the whole projection holds every project). */
  readonly projection: ProjectView
  /** The project this broker serves: `default` for the unprefixed routes. */
  readonly name: string
  /** The broker of a project (made on first use: a project exists from its first event). */
  readonly project: (name: string) => BrokerService
  /** The projects that hold anything now; `default` first, always. */
  readonly projects: () => ReadonlyArray<string>
  /** The hot requests with callbacks, without a fiber per request (the REST transport's direct path). */
  readonly direct: DirectBroker
  /** Peers' signs of life, kept out of the log (see liveness.ts): for the sweeper. */
  readonly liveness: Liveness
  /** Hints for pushes into idle sessions, as the log is applied (see notices.ts). Returns the way to stop. */
  readonly onNotice: (listener: NoticeListener) => () => void
  /** How the state stands against the log: what /healthz answers. */
  readonly health: Effect.Effect<Health>
  /**
   * Succeeds, with the reason, once the state has stopped following the log for good: from then on
   * every write fails, and only a restart (which replays the log) helps. The server exits on it.
   */
  readonly broken: Effect.Effect<string>
}

export class Broker extends Context.Tag("claude-ipc-broker/Broker")<Broker, BrokerService>() {}

const exportPage = 1_000
/**
 * Small enough that a page's parsed events die in the young generation while it is applied: pages
 * of 10,000 outlived several scavenges, and on a 1M-event log the garbage they left in the old
 * generation was over 100 MB of RSS after the start.
 */
const catchUpPage = 500

export const makeBroker = Effect.gen(function* () {
  const log = yield* EventLog
  const config = yield* BrokerConfig
  const checkpoints = yield* Checkpoints
  const metrics = Option.getOrUndefined(yield* Effect.serviceOption(Metrics))
  const startedAt = new Date().toISOString()

  const root = checkpoints.initial
  // No gate configured (the usual case): a send checks nothing.
  const gate: Commands.Gate | undefined =
    config.requireApproval.length > 0 || config.gateAfter !== null
      ? { requireApproval: config.requireApproval, gateAfter: config.gateAfter }
      : undefined
  /** Writes waiting until the state has applied their event, by seq (every project's). */
  const forApplied = new Waiters<number>()
  /** Long-polls parked in every project: `--max-waits` is the process's limit. */
  const parkedCount = { parked: 0 }
  const repairs = yield* FiberSet.make<void, never>()
  const runRepair = yield* FiberSet.runtime(repairs)<never>()
  const brokenFor = yield* Deferred.make<string>()
  /** The brokers of the projects served so far, made on first use (see `project` below). */
  const projects = new Map<string, ProjectBroker>()
  /** Only on a shared log that has it: how the nodes tell one another which peers are alive. */
  const signsOfLife = log.appendIfHead === undefined ? undefined : log.signsOfLife

  /** One event into the state, in seq order (the applier sees to it), and the waits it concerns woken. */
  const applyEvent = (event: BrokerEvent): void => {
    const changes = root.apply(event)
    if (changes.length > 0) {
      // A project nobody has used since the start has no waits and no listeners to tell.
      const project = projects.get(projectOf(event))
      if (project !== undefined) for (const change of changes) project.dispatch(change, event)
    }
    checkpoints.observe(root)
    forApplied.wakeAll(event.seq)
  }

  const applier = makeApplier({
    from: root.seq,
    apply: applyEvent,
    read: (from, to) => log.read(from, to),
    fork: (effect) => void runRepair(effect),
    retry: Schedule.intersect(Schedule.spaced(config.repairRetryMs), Schedule.recurs(4)),
    applied: (event) => metrics?.eventAppended(event.type), // not the catch-up below: it is no append
    fault: (kind) => metrics?.projectionFault(kind),
    broke: (reason) => {
      checkpoints.forget()
      // Writes parked until their event is applied look again, and fail.
      forApplied.wakeEverything()
      Deferred.unsafeDone(brokenFor, Exit.succeed(reason))
    }
  })

  // Catch up with the log, then follow it: every event, ours or another node's, enters here.
  // Catching up goes page by page, so a long log is never held in memory at once.
  // A long replay says how far it got, about once a second, so a slow start is visibly busy.
  const replayTo = yield* log.head
  let reportedAt = yield* Clock.currentTimeMillis
  let page: ReadonlyArray<BrokerEvent>
  do {
    page = yield* log.read(root.seq + 1, undefined, catchUpPage)
    const outcome = applier.applyStored(page)
    if (outcome.kind !== "applied") {
      const reason =
        outcome.kind === "failed"
          ? `${outcome.message}. This version cannot replay its log; the log is left as it is`
          : `the log skips from seq ${applier.applied} to ${outcome.rest[0]!.seq}`
      return yield* Effect.fail(new LogUnavailable({ message: `cannot start: ${reason}` }))
    }
    const now = yield* Clock.currentTimeMillis
    if (now - reportedAt >= 1000 && page.length === catchUpPage) {
      reportedAt = now
      yield* Effect.logInfo(`replaying the log: ${root.seq.toLocaleString("en-US")} / ${replayTo.toLocaleString("en-US")} events`)
    }
  } while (page.length === catchUpPage)
  // Live batches are applied as the log makes them durable, before their appends answer: a write
  // finds its events applied when it looks, without parking to wait for them.
  const stopFollowing = yield* Effect.suspend(() =>
    log.follow(applier.applied + 1, applier.deliver)
  ).pipe(
    Effect.tapErrorCause((cause) => Effect.logWarning("catching up with the log failed; trying again", cause)),
    Effect.retry(Schedule.spaced("1 second"))
  )
  yield* Effect.addFinalizer(() => Effect.sync(stopFollowing))
  /** The log's own callback append, or its Effect append run for a backend without one. */
  const runCallback = Runtime.runCallback(yield* Effect.runtime<never>())
  const appendWith =
    log.appendWith ??
    ((drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void) =>
      void runCallback(log.append(drafts), {
        onExit: (exit) =>
          done(
            Exit.isSuccess(exit)
              ? Either.right(exit.value)
              : Either.left(
                  Option.getOrElse(
                    Cause.failureOption(exit.cause),
                    () => new LogUnavailable({ message: `the append failed: ${Cause.pretty(exit.cause)}` })
                  )
                )
          )
      }))

  /**
   * Until the state has applied event `seq`. Never for ever: a state that stops following the log
   * fails the writes waiting here (their events are in the log, so they are told so).
   */
  const whenAppliedWith = (seq: number, done: (failed: LogUnavailable | undefined) => void): void => {
    if (applier.applied >= seq) return done(undefined)
    const broken = applier.broken
    if (broken !== undefined) {
      return done(
        new LogUnavailable({
          message: `event ${seq} was recorded in the log, but this broker stopped applying the log before it (${broken}); it restarts to recover — look before retrying, the write is there`
        })
      )
    }
    // Woken while the projection applies an event: look again once that is done.
    const remove = forApplied.add(seq, () => {
      remove()
      queueMicrotask(() => whenAppliedWith(seq, done))
    })
  }

  const whenApplied = (seq: number): Effect.Effect<void, LogUnavailable> =>
    once<void, LogUnavailable>((done) => whenAppliedWith(seq, (failed) => done(failed ? Either.left(failed) : Either.right(undefined))))

  /** A state that stopped following the log takes no more writes: they would never be applied. */
  const refusalWhenBroken = (): LogUnavailable | undefined => {
    const broken = applier.broken
    return broken === undefined
      ? undefined
      : new LogUnavailable({
          message: `this broker stopped applying its log (${broken}); nothing was recorded. It restarts to recover: retry in a few seconds`
        })
  }

  /** After an append of ours: its events are in the log, so the state must get them (see Applier.appended). */
  const whenAppended = (stored: ReadonlyArray<BrokerEvent>) =>
    Effect.suspend(() => {
      const seq = stored[stored.length - 1]!.seq
      applier.appended(seq)
      return whenApplied(seq)
    })

  /**
   * Append and wait until the state reflects it: read-your-writes for every request. The drafts go
   * as they are: a project's broker stamps its project on them first (see `makeProject`).
   */
  const commitDraftsWith = (drafts: ReadonlyArray<EventDraft>, done: Done<ReadonlyArray<BrokerEvent>, LogUnavailable>): void => {
    if (drafts.length === 0) return done(Either.right([]))
    const refused = refusalWhenBroken()
    if (refused !== undefined) return done(Either.left(refused))
    appendWith(drafts, (stored) => {
      if (Either.isLeft(stored)) return done(stored)
      const seq = stored.right[stored.right.length - 1]!.seq
      applier.appended(seq)
      whenAppliedWith(seq, (failed) => done(failed ? Either.left(failed) : stored))
    })
  }

  let subscribers = 0

  const openStream = Effect.suspend(() => {
    if (subscribers >= config.maxSubscribers) {
      return Effect.fail(new TooManyWaits({ message: `${subscribers} event streams are open already; retry later` }))
    }
    subscribers++
    let open = true
    const leave = () => {
      if (open) subscribers--
      open = false
    }
    return Effect.succeed({ leave })
  })

  /** Tokens are the whole broker's (each names its project), so their events carry none. */
  const decideAndCommitDrafts = <E extends BrokerError>(decide: () => Decision<E>) =>
    Effect.suspend(() =>
      once<ReadonlyArray<BrokerEvent>, E | LogUnavailable>((done) => {
        const decision = decide()
        if (Either.isLeft(decision)) return done(Either.left(decision.left))
        commitDraftsWith(decision.right, done)
      })
    )

  // Tokens

  const mintToken = (request: MintRequest) =>
    Effect.suspend(() => {
      const token = newSecret()
      const hash = hashSecret(token)
      return decideAndCommitDrafts(() => Tokens.decide({ type: "Mint", ...request, hash }, root)).pipe(
        Effect.flatMap(() => {
          // Two nodes minting one name at once: the first in log order holds it; the other learns it lost.
          const kept = root.tokens.get(request.name)
          return kept?.hash === hash
            ? Effect.succeed({ ...tokenView(kept), token })
            : Effect.fail(new Conflict({ message: `a token named '${request.name}' was minted at the same moment elsewhere` }))
        })
      )
    })

  const revokeToken = (name: string) =>
    Effect.suspend(() => {
      const before = root.tokens.get(name)
      return decideAndCommitDrafts(() => Tokens.decide({ type: "Revoke", name }, root)).pipe(
        Effect.map(() => tokenView(before!))
      )
    })

  /**
   * A project's broker: the project's view of the state, its own parked waits, signs of life and
   * notices, deciding and appending on the log every project shares. A project is a broker inside
   * the broker: what one does is invisible to another, and a reset resets one project.
   */
  const makeProject = (name: string): ProjectBroker => {
    const projection = root.project(name)
    const waits = new ParkedWaits(projection, config, parkedCount)
    const notices = new Notices()
    const liveness = new Liveness(
      log.appendIfHead !== undefined,
      recordEveryMs(config.staleAfterMs, config.sweepIntervalMs),
      signsOfLife !== undefined
    )
    liveness.seed(projection.peers.values(), Date.now())
    /** A peer as clients see it: the projection's view, with the latest sign of life. */
    const livePeerView = (snapshot: PeerSnapshot): PeerView => liveness.view(snapshot, peerView(snapshot))

    /** The waits a change concerns are woken; what no wait here takes is a hint for pushes (notices.ts). */
    const dispatch = (change: Change, event: BrokerEvent): void => {
      const untaken = waits.wake(change)
      switch (change.kind) {
        case "command.pending":
          if (untaken && notices.heard) notices.tell({ kind: "command", commandId: change.commandId, target: change.target })
          return
        case "peer":
          if (notices.heard) notices.tell({ kind: "peer", peerId: change.peerId })
          return
        case "message":
          if (notices.heard && event.type === "message.sent") {
            notices.tell({
              kind: "message",
              channel: change.channel,
              id: change.id,
              from: event.data.from,
              message: event.data.message
            })
          }
          return
        case "signal":
          if (notices.heard && event.type === "signal.fired") notices.tell({ kind: "signal", name: change.name, by: event.data.by })
          return
        case "reset":
          liveness.forgetAll()
          notices.tell({ kind: "reset" })
          return
        default:
          return
      }
    }

    /** Every event of this project says so (events of `default` carry no project, as before projects). */
    const stamp = (drafts: ReadonlyArray<EventDraft>): ReadonlyArray<EventDraft> =>
      name === defaultProject ? drafts : drafts.map((draft) => inProject(name, draft))

    const commitWith = (drafts: ReadonlyArray<EventDraft>, done: Done<ReadonlyArray<BrokerEvent>, LogUnavailable>): void =>
      commitDraftsWith(stamp(drafts), done)

    const commit = (drafts: ReadonlyArray<EventDraft>) => once<ReadonlyArray<BrokerEvent>, LogUnavailable>((done) => commitWith(drafts, done))

    /** Commit what was decided; a refusal records nothing, and neither does a decision with no events (the answer is then the empty list). */
    const decideAndCommitWith = <E extends BrokerError>(
      decision: Decision<E>,
      done: Done<ReadonlyArray<BrokerEvent>, E | LogUnavailable>
    ): void => {
      if (Either.isLeft(decision)) return done(Either.left(decision.left))
      commitWith(decision.right, done)
    }

    /** Decide on the state as it is when the Effect runs, then commit what was decided. */
    const decideAndCommit = <E extends BrokerError>(
      decide: () => Decision<E>
    ): Effect.Effect<ReadonlyArray<BrokerEvent>, E | LogUnavailable> =>
      Effect.suspend(() => once<ReadonlyArray<BrokerEvent>, E | LogUnavailable>((done) => decideAndCommitWith(decide(), done)))

    /** A conditional commit on a shared log (JetStream's expected-last-sequence); see BrokerService. */
    const recordIfHead = (seq: number, drafts: ReadonlyArray<EventDraft>): Effect.Effect<boolean, LogUnavailable> => {
      const appendIfHead = log.appendIfHead
      if (drafts.length === 0) return Effect.succeed(true)
      if (appendIfHead === undefined) return Effect.as(commit(drafts), true)
      return Effect.suspend(() => {
        const refused = refusalWhenBroken()
        return refused === undefined ? appendIfHead(seq, stamp(drafts)) : Effect.fail(refused)
      }).pipe(
        Effect.flatMap((stored) => Effect.as(whenAppended(stored), true)),
        Effect.catchTag("HeadMoved", (moved) => Effect.as(whenApplied(moved.head), false))
      )
    }

    /** This project's events of a batch of the log (the others' are not this project's clients' business). */
    const isOwn = (event: BrokerEvent): boolean => projectOf(event) === name
    const ownEvents =
      (deliver: (batch: ReadonlyArray<BrokerEvent>) => void) =>
      (batch: ReadonlyArray<BrokerEvent>): void => {
        const own = batch.every(isOwn) ? batch : batch.filter(isOwn)
        if (own.length > 0) deliver(own)
      }

    const findPeer = (peerId: string) => Effect.suspend(() => Peers.requirePeer(projection, peerId))
    const findCommand = (commandId: string) => Effect.suspend(() => Commands.requireCommand(projection, commandId))

    // Peers

    const connect = (request: ConnectRequest) =>
      Effect.suspend(() => {
        const peerId = request.id ?? newPeerId()
        return decideAndCommit(() =>
          Peers.decide(
            { type: "Connect", peerId, role: request.role, capabilities: request.capabilities, name: request.name ?? null },
            projection
          )
        ).pipe(
          Effect.flatMap(() => Effect.map(recorded(projection.peers.get(peerId), "the peer"), livePeerView))
        )
      })

    /**
     * A sign of life: noted in memory; recorded as an event only when it is a fact (back online from
     * stale or offline) or, on a shared log without gossip, when other nodes would otherwise see the
     * peer go stale (with gossip they hear of it beside the log: liveness.ts).
     */
    const touched = (peerId: string) => {
      const peer = projection.peers.get(peerId)
      const news = peer !== undefined && liveness.note(peer, Date.now())
      return Peers.decide({ type: "Heartbeat", peerId, news }, projection)
    }
    const touch = (peerId: string) => decideAndCommit(() => touched(peerId))

    const heartbeat = (peerId: string) =>
      touch(peerId).pipe(Effect.zipRight(findPeer(peerId)), Effect.map(livePeerView))

    const disconnect = (peerId: string, reason: "disconnected" | "session_closed" = "disconnected") =>
      decideAndCommit(() => Peers.decide({ type: "Disconnect", peerId, reason, maxDeliveries: config.maxDeliveries }, projection)).pipe(
        Effect.zipRight(findPeer(peerId)),
        Effect.map(livePeerView)
      )

    // Commands

    const commandsFor = (peerId: string) =>
      Effect.map(findPeer(peerId), (peer) =>
        [...projection.pendingFor(peer.context.id, peer.context.role), ...projection.heldBy(peerId)]
          .sort((a, b) => a.context.sentSeq - b.context.sentSeq)
          .map(commandView)
      )

    /** The claim recorded at the end of `stored`, as the state shows it if it won. */
    const wonClaim = (commandId: string, stored: ReadonlyArray<BrokerEvent>): CommandView | undefined => {
      if (stored.length === 0) return undefined
      const won = Commands.wonClaim(projection, commandId, stored[stored.length - 1]!.seq)
      return won && commandView(won)
    }

    /** Claim by appending `command.delivered`; undefined when another claim came first. */
    const claimWith = (commandId: string, peerId: string, done: Done<CommandView | undefined, LogUnavailable>): void => {
      waits.claiming.add(commandId)
      decideAndCommitWith(Commands.decide({ type: "Claim", commandId, peerId, leaseMs: config.leaseMs }, projection), (stored) => {
        waits.claiming.delete(commandId)
        done(Either.map(stored, (events) => wonClaim(commandId, events)))
      })
    }

    /** The original of a repeated send, as its answer. */
    const duplicateOf = (original: CommandSnapshot): SentCommand => ({ ...commandView(original), duplicate: true })

    const sendCommandWith: DirectBroker["sendCommand"] = (request, done) =>
      request.idempotencyKey === undefined ? sendNewWith(request, done) : sendOnceWith(request, request.idempotencyKey, done)

    /** Sends with an idempotency key in flight on this node: a repeat waits for its original. */
    const sendsInFlight = oneAtATime()

    const sendOnceWith = (request: SendCommandRequest, key: string, done: Done<SentCommand, LogUnavailable | Conflict>): void => {
      const original = Commands.originalOf(projection, { ...request, commandId: "", nowMs: Date.now() })
      if (original !== undefined) return done(Either.right(duplicateOf(original)))
      sendsInFlight.run(`${request.from}\n${key}`, () => sendOnceWith(request, key, done), (finish) => sendNewWith(request, finish), done)
    }

    const sendNewWith: DirectBroker["sendCommand"] = (request, done) => {
      const send = { ...request, commandId: newCommandId(), nowMs: Date.now(), gate }
      const answer = (): Either.Either<SentCommand, Conflict> => {
        const command = projection.commands.get(send.commandId)
        // Our send lost to a repeat that reached the log first (another node's): that one is the command.
        const original = command === undefined ? Commands.originalOf(projection, send) : undefined
        return original !== undefined ? Either.right(duplicateOf(original)) : Either.map(recorded(command, "the command"), commandView)
      }
      // A held command goes to no one, however eagerly its target waits.
      const taker = Commands.heldReason(send, projection) === undefined ? waits.reserveFor(request.target) : undefined
      if (taker === undefined) {
        return decideAndCommitWith(Commands.decide({ type: "Send", ...send }, projection), andThen(done, answer))
      }
      // A peer is parked waiting for this command: its claim goes to the log in the same append
      // (one write, one fsync for the whole round trip), right behind the command. Log order still
      // decides: on a shared log another node's claim may land in between, and then ours loses.
      // The parked wait always hears how its claim went.
      waits.claiming.add(send.commandId)
      decideAndCommitWith(
        Commands.decide({ type: "SendAndClaim", send, claimant: taker.peerId, leaseMs: config.leaseMs }, projection),
        (stored) => {
          waits.claiming.delete(send.commandId)
          taker.handOff(send.commandId, stored)
          andThen(done, answer)(stored)
        }
      )
    }

    const waitForCommandWith: DirectBroker["waitForCommand"] = (peerId, timeoutMs, done) => {
      // Refuse before recording anything: a refused request leaves the log as it was.
      const refused = waits.refusedForPeer(peerId, timeoutMs)
      if (refused) {
        done(Either.left(refused))
        return noop
      }
      let cancel: Cancel = () => {
        cancelled = true
      }
      let cancelled = false
      decideAndCommitWith(touched(peerId), (touch) => {
        if (cancelled) return
        if (Either.isLeft(touch)) return done(Either.left(touch.left))
        const admitted = waits.admit(timeoutMs)
        if (Either.isLeft(admitted)) return done(Either.left(admitted.left))
        const release = admitted.right
        const taking = { claim: (commandId: string, claimed: Done<CommandView | undefined, LogUnavailable>) => claimWith(commandId, peerId, claimed), won: wonClaim }
        const stop = waits.takeCommandWith(peerId, timeoutMs, taking, (taken) => {
          release()
          done(taken)
        })
        cancel = () => {
          release()
          stop()
        }
      })
      return () => cancel()
    }

    /** An ack or a cancel: decided, appended, and then it counts only if the state recorded ours as the settling event. */
    const settleWith = (
      commandId: string,
      decision: Decision<NotFound | Conflict | Forbidden>,
      done: Done<CommandView, LogUnavailable | NotFound | Conflict | Forbidden>
    ): void =>
      decideAndCommitWith(
        decision,
        andThen(done, ([event]: ReadonlyArray<BrokerEvent>) => Either.map(Commands.settledBy(projection, commandId, event!.seq), commandView))
      )

    const ackWith: DirectBroker["ack"] = (commandId, outcome, done) =>
      settleWith(commandId, Commands.decide({ type: "Ack", commandId, ...outcome }, projection), done)

    const cancel: BrokerService["cancel"] = (commandId, by) =>
      once((done) => settleWith(commandId, Commands.decide({ type: "Cancel", commandId, by }, projection), done))

    const redeliver: BrokerService["redeliver"] = (commandId, by) =>
      decideAndCommit(() => Commands.decide({ type: "Redeliver", commandId, by }, projection)).pipe(
        Effect.flatMap(([event]) => Effect.suspend(() => Commands.redeliveredBy(projection, commandId, event!.seq))),
        Effect.map(commandView)
      )

    const gateWith =
      (type: "Approve" | "Reject"): BrokerService["approve"] =>
      (commandId, by) =>
        decideAndCommit(() => Commands.decide({ type, commandId, by }, projection)).pipe(
          Effect.flatMap(([event]) => Effect.suspend(() => Commands.redeliveredBy(projection, commandId, event!.seq))),
          Effect.map(commandView)
        )
    const approve = gateWith("Approve")
    const reject = gateWith("Reject")

    const waitForResultWith: DirectBroker["waitForResult"] = (commandId, timeoutMs, done) => {
      const known = Commands.requireCommand(projection, commandId)
      if (Either.isLeft(known)) {
        done(Either.left(known.left))
        return noop
      }
      return waits.waitUntilAdmittedWith(
        () => {
          const command = projection.commands.get(commandId)
          // Gone (a reset) counts as an answer, turned into NotFound below.
          return command === undefined ? null : isSettled(commandStatus(command)) ? command : undefined
        },
        (wake) => [waits.forResults.add(commandId, wake)],
        timeoutMs,
        andThen(done, ({ value, timedOut }: WaitResult<CommandSnapshot | null>) => {
          if (timedOut) return Either.map(Commands.requireCommand(projection, commandId), (command) => ({ value: commandView(command), timedOut: true }))
          return value === null
            ? Either.left(new NotFound({ message: `command '${commandId}' was removed by a reset` }))
            : Either.right({ value: commandView(value), timedOut: false })
        })
      )
    }

    // Channels

    const messageIdOf = (channel: string, seq: number): number | undefined => {
      const snapshot = projection.channels.get(channel)
      return snapshot && messageIdAt(snapshot.context, seq)
    }

    /** The message an earlier send with this key made, read back from the log, as a repeat's answer. */
    const duplicateMessageWith = (original: KeyedMessage, done: Done<PostedMessage, LogUnavailable | Conflict>): void =>
      void runCallback(log.readSeqs([original.seq]), {
        onExit: (exit) =>
          done(
            Exit.isSuccess(exit)
              ? Either.right({ ...messageView(original.id, exit.value[0] as BrokerEvent & MessageSent), duplicate: true })
              : Either.left(
                  Option.getOrElse(
                    Cause.failureOption(exit.cause),
                    () => new LogUnavailable({ message: `reading the original message failed: ${Cause.pretty(exit.cause)}` })
                  )
                )
          )
      })

    const publishWith: DirectBroker["publish"] = (channel, from, message, done, idempotencyKey) =>
      idempotencyKey === undefined
        ? publishNewWith({ channel, from, message }, done)
        : publishOnceWith({ channel, from, message, idempotencyKey }, idempotencyKey, done)

    /** Channel sends with an idempotency key in flight on this node, as `sendsInFlight`. */
    const publishesInFlight = oneAtATime()

    const publishOnceWith = (
      request: Omit<Channels.Publish, "type">,
      key: string,
      done: Done<PostedMessage, LogUnavailable | Conflict>
    ): void => {
      const original = Channels.originalMessageOf(projection, { ...request, nowMs: Date.now() })
      if (original !== undefined) return duplicateMessageWith(original, done)
      publishesInFlight.run(
        `${request.channel}\n${request.from}\n${key}`,
        () => publishOnceWith(request, key, done),
        (finish) => publishNewWith(request, finish),
        done
      )
    }

    const publishNewWith = (request: Omit<Channels.Publish, "type">, done: Done<PostedMessage, LogUnavailable | Conflict>): void => {
      const { channel } = request
      const nowMs = Date.now()
      decideAndCommitWith(Channels.decide({ type: "Publish", ...request, nowMs }, projection), (stored) => {
        if (Either.isLeft(stored)) return done(Either.left(stored.left))
        const event = stored.right[0]
        const id = event === undefined ? undefined : messageIdOf(channel, event.seq)
        // Our send lost to a repeat that reached the log first (another node's): that one is the message.
        const original = id === undefined ? Channels.originalMessageOf(projection, { ...request, nowMs }) : undefined
        if (original !== undefined) return duplicateMessageWith(original, done)
        done(Either.map(recorded(id, "the message", "a reset or a retention trim"), (id) => messageView(id, event as BrokerEvent & MessageSent)))
      })
    }

    const readMessages: BrokerService["readMessages"] = (channel, { since, limit, timeoutMs }) =>
      waits
        .waitUntilAdmitted(
          () => {
            const snapshot = projection.channels.get(channel)
            // Only a message still held answers; a reader behind a trim is told so by firstId.
            return snapshot && snapshot.context.count > Math.max(since, snapshot.context.trimmed) ? snapshot : undefined
          },
          (wake) => [waits.forMessages.add(channel, wake)],
          timeoutMs
        )
        .pipe(
          Effect.flatMap(({ value }) => {
            const current = projection.channels.get(channel)?.context
            const position = { lastId: current?.count ?? 0, firstId: current ? firstId(current) : 1 }
            if (value === null) return Effect.succeed({ messages: [], ...position })
            const { seqs, trimmed } = value.context
            // Ids at or below `since` were read; ids at or below `trimmed` are gone (the answer's firstId says so).
            const from = Math.max(since, trimmed) - trimmed
            const to = Math.min(heldCount(value.context), from + limit)
            return log.readSeqs(seqs.slice(from, to)).pipe(
              Effect.map((events) => ({
                messages: events.map((event, i) => messageView(trimmed + from + i + 1, event as BrokerEvent & MessageSent)),
                ...position
              }))
            )
          })
        )

    // Signals

    const fire = (name: string, data: unknown, by: string | null) =>
      decideAndCommit(() => Signals.decide({ type: "Fire", name, data, by }, projection)).pipe(
        Effect.map(() => signalView(name, projection.signals.get(name)))
      )

    /**
     * One view per signal state: the thousand waiters a firing wakes share one object (and so the
     * transport can render their answer once).
     */
    const signalViews = new WeakMap<SignalSnapshot, SignalView>()
    const viewOfSignal = (name: string): SignalView => {
      const snapshot = projection.signals.get(name)
      if (snapshot === undefined) return signalView(name, snapshot)
      let view = signalViews.get(snapshot)
      if (view === undefined) signalViews.set(snapshot, (view = signalView(name, snapshot)))
      return view
    }

    const waitForSignal = (name: string, timeoutMs: number) =>
      waits
        .waitUntilAdmitted(
          () => {
            const snapshot = projection.signals.get(name)
            return snapshot?.value === "fired" ? snapshot : undefined
          },
          (wake) => [waits.forSignals.add(name, wake)],
          timeoutMs
        )
        .pipe(Effect.map(({ timedOut }) => ({ value: viewOfSignal(name), timedOut })))

    const clearSignal = (name: string) =>
      decideAndCommit(() => Signals.decide({ type: "Clear", name }, projection)).pipe(
        Effect.map(() => signalView(name, projection.signals.get(name)))
      )

    // System

    /** The projection now, or as it was right after event `seq` (time travel); BadRequest beyond the head. */
    const stateAt = (seq: number | undefined): Effect.Effect<ProjectView, LogUnavailable | BadRequest> =>
      seq === undefined
        ? Effect.succeed(projection)
        : Effect.flatMap(log.head, (head): Effect.Effect<ProjectView, LogUnavailable | BadRequest> =>
            seq > head
              ? Effect.fail(new BadRequest({ message: `the log ends at seq ${head}; there is no event ${seq}` }))
              : Effect.map(checkpoints.at(seq), (past) => past.project(name))
          )

    const commandDetailAt: BrokerService["commandDetail"] = (commandId, at) =>
      Effect.flatMap(stateAt(at), (state) =>
        Effect.flatMap(Commands.requireCommand(state, commandId), (command) =>
          Effect.map(log.readSeqs(command.context.history), (events) => commandDetail(command, events, config.maxDeliveries))
        )
      )

    const withLog = (view: StateView) =>
      Effect.map(log.head, (head): Status => ({ ...view, log: { head, backend: log.backend }, startedAt, version }))

    const exportLog = (from: number, to: number) =>
      Stream.paginateChunkEffect(Math.max(1, from), (cursor) =>
        Effect.map(log.read(cursor, to, exportPage), (events) => {
          const next = events.length === 0 ? undefined : events[events.length - 1]!.seq + 1
          return [
            Chunk.unsafeFromArray(events),
            next === undefined || next > to || events.length < exportPage ? Option.none() : Option.some(next)
          ] as const
        })
      )

    const service: BrokerService = Broker.of({
      connect,
      heartbeat,
      disconnect,
      peers: Effect.sync(() => [...projection.peers.values()].map(livePeerView)),
      peer: (peerId) => Effect.map(findPeer(peerId), livePeerView),
      sendCommand: (request) => once((done) => sendCommandWith(request, done)),
      commandsFor,
      waitForCommand: (peerId, timeoutMs) => fromCallback((done) => waitForCommandWith(peerId, timeoutMs, done)),
      ack: (commandId, outcome) => once((done) => ackWith(commandId, outcome, done)),
      cancel,
      command: (commandId) => Effect.map(findCommand(commandId), commandView),
      commandDetail: commandDetailAt,
      redeliver,
      approve,
      reject,
      waitForResult: (commandId, timeoutMs) => fromCallback((done) => waitForResultWith(commandId, timeoutMs, done)),
      commands: ({ status, limit }) => Effect.sync(() => recentCommands(projection, limit, status)),
      publish: (channel, from, message, idempotencyKey) => once((done) => publishWith(channel, from, message, done, idempotencyKey)),
      readMessages,
      channels: Effect.sync(() => [...projection.channels.values()].map(channelView)),
      fire,
      signal: (name) => Effect.sync(() => signalView(name, projection.signals.get(name))),
      waitForSignal,
      clearSignal,
      signals: Effect.sync(() => [...projection.signals.entries()].map(([name, s]) => signalView(name, s))),
      reset: (by) => Effect.asVoid(decideAndCommit(() => System.decide({ type: "Reset", by }, projection))),
      mintToken,
      revokeToken,
      tokens: Effect.sync(() => [...root.tokens.values()].map(tokenView)),
      tokenFor: (secret) => root.tokenByHash(hashSecret(secret)),
      record: commit,
      recordIfHead,
      // The log's state, as /status?at=<head> shows it too: lastSeenAt there is the last recorded sign of life.
      status: Effect.suspend(() => withLog(stateView(projection))),
      statusAt: (seq) => Effect.flatMap(stateAt(seq), (past) => withLog(stateView(past))),
      openStream,
      follow: (from, deliver, paced) => log.follow(from, ownEvents(deliver), paced),
      exportLog: (from, to) => Stream.filter(exportLog(from, to), isOwn),
      head: log.head,
      activeWaits: (peerId) => waits.activeWaits(peerId),
      stats: Effect.sync(() => ({ waits: waits.size, subscribers })),
      projection,
      name,
      project: (other) => projectFor(other).service,
      projects: projectNames,
      direct: {
        publish: publishWith,
        sendCommand: sendCommandWith,
        waitForCommand: waitForCommandWith,
        ack: ackWith,
        waitForResult: waitForResultWith
      },
      liveness,
      onNotice: (listener) => notices.listen(listener),
      health: Effect.sync(() => {
        const health = applier.health
        return health.status === "ok" && log.position !== undefined ? positionHealth(log.position()) : health
      }),
      broken: Deferred.await(brokenFor)
    })
    return { service, dispatch }
  }


  const projectFor = (name: string): ProjectBroker => {
    let project = projects.get(name)
    if (project === undefined) {
      project = makeProject(name)
      projects.set(name, project)
    }
    return project
  }

  /** A project exists from its first event, as long as it holds anything; `default` always. */
  const projectNames = (): ReadonlyArray<string> => root.projects()

  // The projects in the log are served from the start, so their peers' signs of life count from now.
  for (const name of root.projects()) projectFor(name)

  // On a shared log with a gossip channel (liveness.ts): what each node saw alive goes to the others
  // every few seconds, instead of a `peer.heartbeat` in the log every ~15 s per live peer.
  if (signsOfLife !== undefined) {
    const stopListening = signsOfLife.listen(
      (signs, receivedAt) => {
        // A project this node has not served yet seeds its peers when first served (makeProject).
        for (const [project, peerId, ageMs] of signs) projects.get(project)?.service.liveness.heard(peerId, ageMs, receivedAt)
      },
      () => {
        // Cut off, this node missed the others' gossip: as at a start, every present peer gets a
        // fresh window rather than being found stale on the strength of silence it could not hear.
        const now = Date.now()
        for (const { service } of projects.values()) service.liveness.seed(service.projection.peers.values(), now)
      }
    )
    const tell = () => {
      // While cut off, what is noted waits: published now, its ages would arrive late and be wrong.
      if (!signsOfLife.connected()) return
      const now = Date.now()
      const signs: Array<SignOfLife> = []
      for (const [project, { service }] of projects) {
        for (const [peerId, ageMs] of service.liveness.fresh(now)) signs.push([project, peerId, ageMs])
      }
      signsOfLife.publish(signs)
    }
    const timer = setInterval(tell, gossipEveryMs(config.staleAfterMs, config.sweepIntervalMs))
    timer.unref()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearInterval(timer)
        stopListening()
      })
    )
  }
  return projectFor(defaultProject).service
})

/** A project's broker, and how the shared state tells it what an applied event of its own changed. */
interface ProjectBroker {
  readonly service: BrokerService
  readonly dispatch: (change: Change, event: BrokerEvent) => void
}

export const BrokerLive = Layer.scoped(Broker, makeBroker)
