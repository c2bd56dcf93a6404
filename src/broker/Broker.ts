import { Chunk, Clock, Context, Deferred, Effect, Exit, FiberSet, Layer, Option, Schedule, Stream } from "effect"
import type { BrokerEvent, EventDraft, MessageSent, PeerConnected } from "../core/events.js"
import { BadRequest, Conflict, Forbidden, LogUnavailable, NotFound, TooManyWaits } from "../core/errors.js"
import { firstId, heldCount, messageIdAt } from "../core/machines/channel.js"
import { commandStatus, isSettled, type CommandSnapshot, type CommandStatus } from "../core/machines/command.js"
import { peerStatus, type PeerSnapshot } from "../core/machines/peer.js"
import type { SignalSnapshot } from "../core/machines/signal.js"
import { Projection, type Change } from "../core/projection.js"
import {
  channelView,
  commandView,
  messageView,
  peerView,
  recentCommands,
  signalView,
  stateView,
  type ChannelView,
  type CommandView,
  type MessageView,
  type PeerView,
  type SignalView,
  type StateView
} from "../core/views.js"
import { EventLog } from "../log/EventLog.js"
import { makeApplier, type Health } from "./applier.js"
import { Liveness, recordEveryMs } from "./liveness.js"
import { BrokerConfig } from "./Config.js"
import { newCommandId, newPeerId } from "./ids.js"
import { Checkpoints } from "./Checkpoints.js"
import { Metrics } from "./metrics/Metrics.js"
import { Notices, type NoticeListener } from "./notices.js"
import { version } from "../version.js"
import { Waiters } from "./waiters.js"

/** What a parked wait's registrations may do with it: end it, or hold it for a hand-over. */
interface Parking<A> {
  readonly wake: (value: A) => void
  readonly hold: () => ((value: A) => void) | undefined
}

/** A command wait parked on this node. */
interface ParkedCommandWait {
  readonly peerId: string
  /** A command it may take became pending: it looks again. */
  readonly wake: () => void
  /**
   * For a sender that appends this wait's claim together with its command: takes the wait out of
   * every index and stops its timeout (undefined if it is not parked any more). The function returned
   * must be called with the append's outcome.
   */
  readonly reserve: () =>
    | ((commandId: string, appended: Exit.Exit<ReadonlyArray<BrokerEvent>, LogUnavailable>) => void)
    | undefined
}

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
}

/** `firstId` above `since + 1` means retention dropped messages the reader had not read. */
export interface MessagesPage {
  readonly messages: ReadonlyArray<MessageView>
  /** The oldest id the channel still holds (1 for an unknown channel; lastId + 1 when it holds none). */
  readonly firstId: number
  readonly lastId: number
}

export interface WaitResult<A> {
  readonly value: A | null
  readonly timedOut: boolean
}

export interface Status extends StateView {
  readonly log: { readonly head: number; readonly backend: string }
  readonly startedAt: string
  readonly version: string
}

type Fails<A> = Effect.Effect<A, LogUnavailable | NotFound>
type Waits<A, E = never> = Effect.Effect<WaitResult<A>, E | TooManyWaits>

/**
 * The broker: each request validates against the projection, decides which events follow, appends
 * them, and answers once the projection has applied them. Waits park on indexes of the projection
 * and are woken by the changes applied events cause.
 */
export interface BrokerService {
  readonly connect: (request: ConnectRequest) => Effect.Effect<PeerView, LogUnavailable | Conflict>
  readonly heartbeat: (peerId: string) => Fails<PeerView>
  readonly disconnect: (peerId: string, reason?: "disconnected" | "session_closed") => Fails<PeerView>
  readonly peers: Effect.Effect<ReadonlyArray<PeerView>>
  readonly peer: (peerId: string) => Effect.Effect<PeerView, NotFound>

  readonly sendCommand: (request: SendCommandRequest) => Effect.Effect<CommandView, LogUnavailable | Conflict>
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
  readonly waitForResult: (commandId: string, timeoutMs: number) => Waits<CommandView, LogUnavailable | NotFound>
  readonly commands: (options: { readonly status?: CommandStatus | undefined; readonly limit: number }) => Effect.Effect<
    ReadonlyArray<CommandView>
  >

  readonly publish: (
    channel: string,
    from: string | null,
    message: unknown
  ) => Effect.Effect<MessageView, LogUnavailable | Conflict>
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
  readonly projection: Projection
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

  const projection = checkpoints.initial
  const commandWaiters = new Waiters<string, ParkedCommandWait>() // by peer id and by role
  const resultWaiters = new Waiters<string>() // by command id
  const channelWaiters = new Waiters<string>()
  const signalWaiters = new Waiters<string>()
  const appliedWaiters = new Waiters<number>()
  const waitsByPeer = new Map<string, number>()
  /** Claims this node has in flight, so that two local waiters do not race for one command. */
  const claiming = new Set<string>()
  const notices = new Notices()
  const liveness = new Liveness(log.appendIfHead !== undefined, recordEveryMs(config.staleAfterMs, config.sweepIntervalMs))
  /** A peer as clients see it: the projection's view, with the latest sign of life. */
  const livePeerView = (snapshot: PeerSnapshot): PeerView => liveness.view(snapshot, peerView(snapshot))
  const repairs = yield* FiberSet.make<void, never>()
  const runRepair = yield* FiberSet.runtime(repairs)<never>()
  const brokenFor = yield* Deferred.make<string>()

  const dispatch = (change: Change, event: BrokerEvent): void => {
    switch (change.kind) {
      case "command.pending":
        // A command this node is claiming already (handed to a parked wait as it was sent) wakes no one;
        // one that no parked wait here takes is news for the idle peers that could.
        if (claiming.has(change.commandId)) return
        if (!commandWaiters.wakeOne(change.target) && notices.heard) {
          notices.tell({ kind: "command", commandId: change.commandId, target: change.target })
        }
        return
      case "command.settled":
        resultWaiters.wakeAll(change.commandId)
        return
      case "peer":
        if (notices.heard) notices.tell({ kind: "peer", peerId: change.peerId })
        return
      case "message":
        channelWaiters.wakeAll(change.channel)
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
        signalWaiters.wakeAll(change.name)
        if (notices.heard && event.type === "signal.fired") notices.tell({ kind: "signal", name: change.name, by: event.data.by })
        return
      case "reset":
        resultWaiters.wakeEverything()
        liveness.forgetAll()
        notices.tell({ kind: "reset" })
        return
      default:
        return
    }
  }

  /** One event into the state, in seq order (the applier sees to it), and the waits it concerns woken. */
  const applyEvent = (event: BrokerEvent): void => {
    for (const change of projection.apply(event)) dispatch(change, event)
    checkpoints.observe(projection)
    appliedWaiters.wakeAll(event.seq)
  }

  const applier = makeApplier({
    from: projection.seq,
    apply: applyEvent,
    read: (from, to) => log.read(from, to),
    fork: (effect) => void runRepair(effect),
    retry: Schedule.intersect(Schedule.spaced(config.repairRetryMs), Schedule.recurs(4)),
    applied: (event) => metrics?.eventAppended(event.type), // not the catch-up below: it is no append
    fault: (kind) => metrics?.projectionFault(kind),
    broke: (reason) => {
      checkpoints.forget()
      // Writes parked until their event is applied look again, and fail.
      appliedWaiters.wakeEverything()
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
    page = yield* log.read(projection.seq + 1, undefined, catchUpPage)
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
      yield* Effect.logInfo(`replaying the log: ${projection.seq.toLocaleString("en-US")} / ${replayTo.toLocaleString("en-US")} events`)
    }
  } while (page.length === catchUpPage)
  liveness.seed(projection.peers.values(), Date.now())
  // Live batches are applied as the log makes them durable, before their appends answer: a write
  // finds its events applied when it looks, without parking to wait for them.
  const stopFollowing = yield* Effect.suspend(() =>
    log.follow(applier.applied + 1, applier.deliver)
  ).pipe(
    Effect.tapErrorCause((cause) => Effect.logWarning("catching up with the log failed; trying again", cause)),
    Effect.retry(Schedule.spaced("1 second"))
  )
  yield* Effect.addFinalizer(() => Effect.sync(stopFollowing))

  /**
   * Park until woken through one of the registrations (with the value given), or for at most
   * `timeoutMs` (`onTimeout`). A plain timer rather than Effect's timeout combinators: a thousand
   * parked waits cost a thousand timers, not a thousand racing fibers. `hold` takes the wait out of
   * its registrations and stops its timer; only the function it returns ends it then.
   */
  const parkUntil = <A>(
    register: (parking: Parking<A>) => ReadonlyArray<() => void>,
    timeoutMs: number,
    onTimeout: A
  ): Effect.Effect<A> =>
    Effect.async<A>((resume) => {
      let state: "parked" | "held" | "ended" = "parked"
      let removers: ReadonlyArray<() => void> = []
      let timer: ReturnType<typeof setTimeout> | undefined
      const leave = () => {
        for (const remove of removers) remove()
        clearTimeout(timer)
      }
      const end = (value: A) => {
        state = "ended"
        leave()
        resume(Effect.succeed(value))
      }
      removers = register({
        wake: (value) => state === "parked" && end(value),
        hold: () => {
          if (state !== "parked") return undefined
          state = "held"
          leave()
          return (value) => state === "held" && end(value)
        }
      })
      if (timeoutMs !== Infinity) timer = setTimeout(() => state === "parked" && end(onTimeout), timeoutMs)
      return Effect.sync(() => {
        state = "ended"
        leave()
      })
    })

  /** Park until `wake` is called through one of the registrations (true), or for at most `timeoutMs` (false). */
  const park = (register: (wake: () => void) => ReadonlyArray<() => void>, timeoutMs = Infinity): Effect.Effect<boolean> =>
    parkUntil<boolean>(({ wake }) => register(() => wake(true)), timeoutMs, false)

  /**
   * Until the state has applied event `seq`. Never for ever: a state that stops following the log
   * fails the writes waiting here (their events are in the log, so they are told so).
   */
  const whenApplied = (seq: number): Effect.Effect<void, LogUnavailable> =>
    Effect.suspend((): Effect.Effect<void, LogUnavailable> => {
      if (applier.applied >= seq) return Effect.void
      const broken = applier.broken
      if (broken !== undefined) {
        return Effect.fail(
          new LogUnavailable({
            message: `event ${seq} was recorded in the log, but this broker stopped applying the log before it (${broken}); it restarts to recover — look before retrying, the write is there`
          })
        )
      }
      return Effect.zipRight(park((wake) => [appliedWaiters.add(seq, wake)]), whenApplied(seq))
    })

  /** A state that stopped following the log takes no more writes: they would never be applied. */
  const refusedWhenBroken = <A, E>(append: () => Effect.Effect<A, E>): Effect.Effect<A, E | LogUnavailable> =>
    Effect.suspend((): Effect.Effect<A, E | LogUnavailable> => {
      const broken = applier.broken
      if (broken === undefined) return append()
      return Effect.fail(
        new LogUnavailable({
          message: `this broker stopped applying its log (${broken}); nothing was recorded. It restarts to recover: retry in a few seconds`
        })
      )
    })

  /** After an append of ours: its events are in the log, so the state must get them (see Applier.appended). */
  const whenAppended = (stored: ReadonlyArray<BrokerEvent>) =>
    Effect.suspend(() => {
      const seq = stored[stored.length - 1]!.seq
      applier.appended(seq)
      return whenApplied(seq)
    })

  /** Append and wait until the projection reflects it: read-your-writes for every request. */
  const commit = (drafts: ReadonlyArray<EventDraft>) =>
    refusedWhenBroken(() => Effect.tap(log.append(drafts), whenAppended))

  /** A conditional commit on a shared log (JetStream's expected-last-sequence); see BrokerService. */
  const recordIfHead = (seq: number, drafts: ReadonlyArray<EventDraft>): Effect.Effect<boolean, LogUnavailable> => {
    const appendIfHead = log.appendIfHead
    if (drafts.length === 0) return Effect.succeed(true)
    if (appendIfHead === undefined) return Effect.as(commit(drafts), true)
    return refusedWhenBroken(() => appendIfHead(seq, drafts)).pipe(
      Effect.flatMap((stored) => Effect.as(whenAppended(stored), true)),
      Effect.catchTag("HeadMoved", (moved) => Effect.as(whenApplied(moved.head), false))
    )
  }

  let waits = 0
  let subscribers = 0

  /** Count a long-poll while it runs, refusing it when too many are parked already. */
  const admitted = <A, E>(timeoutMs: number, wait: Effect.Effect<A, E>): Effect.Effect<A, E | TooManyWaits> =>
    Effect.suspend((): Effect.Effect<A, E | TooManyWaits> => {
      if (timeoutMs === 0) return wait
      if (waits >= config.maxWaits) {
        return Effect.fail(new TooManyWaits({ message: `${waits} waits are parked already; retry later` }))
      }
      waits++
      return Effect.ensuring(wait, Effect.sync(() => waits--))
    })

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

  /** Wait until `ready` answers or `timeoutMs` passes; `register` must index the wake by what it waits for. */
  const waitUntil = <A>(
    ready: () => A | undefined,
    register: (wake: () => void) => ReadonlyArray<() => void>,
    timeoutMs: number
  ): Effect.Effect<WaitResult<A>> => {
    const deadline = Date.now() + timeoutMs
    const loop: Effect.Effect<WaitResult<A>> = Effect.suspend(() => {
      const value = ready()
      if (value !== undefined) return Effect.succeed({ value, timedOut: false })
      const left = deadline - Date.now()
      if (left <= 0) return Effect.succeed({ value: null, timedOut: true })
      return Effect.flatMap(park(register, left), (woken) => (woken ? loop : Effect.succeed({ value: null, timedOut: true })))
    })
    return loop
  }

  const waitUntilAdmitted = <A>(
    ready: () => A | undefined,
    register: (wake: () => void) => ReadonlyArray<() => void>,
    timeoutMs: number
  ) => admitted(timeoutMs, waitUntil(ready, register, timeoutMs))

  /**
   * What a request just appended, as the projection shows it. A reset appended by another request
   * in between clears it (and so can a retention trim a message, with an age limit shorter than the
   * append took): the write is in the log, but there is nothing left to show.
   */
  const present = <A, B>(
    value: A | undefined,
    what: string,
    view: (value: A) => B,
    clearedBy = "a reset"
  ): Effect.Effect<B, Conflict> =>
    value === undefined
      ? Effect.fail(new Conflict({ message: `${what} was recorded, but ${clearedBy} that landed right after it cleared it` }))
      : Effect.succeed(view(value))

  const findPeer = (peerId: string) =>
    Effect.suspend(() => {
      const peer = projection.peers.get(peerId)
      return peer ? Effect.succeed(peer) : Effect.fail(new NotFound({ message: `no peer with id '${peerId}'` }))
    })

  const findCommand = (commandId: string) =>
    Effect.suspend(() => {
      const command = projection.commands.get(commandId)
      return command
        ? Effect.succeed(command)
        : Effect.fail(new NotFound({ message: `no command with id '${commandId}'` }))
    })

  // Peers

  const connect = (request: ConnectRequest) =>
    commit([
      {
        type: "peer.connected",
        data: {
          peerId: request.id ?? newPeerId(),
          role: request.role,
          capabilities: [...request.capabilities],
          name: request.name ?? null
        }
      }
    ]).pipe(
      Effect.flatMap(([event]) =>
        present(projection.peers.get((event as PeerConnected).data.peerId), "the peer", livePeerView)
      )
    )

  /**
   * A sign of life: noted in memory; recorded as an event only when it is a fact (back online from
   * stale or offline) or, on a shared log, when other nodes would otherwise see the peer go stale.
   */
  const touch = (peerId: string) =>
    findPeer(peerId).pipe(
      Effect.flatMap((peer) =>
        liveness.note(peer, Date.now()) ? Effect.asVoid(commit([{ type: "peer.heartbeat", data: { peerId } }])) : Effect.void
      )
    )

  const heartbeat = (peerId: string) =>
    touch(peerId).pipe(Effect.zipRight(findPeer(peerId)), Effect.map(livePeerView))

  const disconnect = (peerId: string, reason: "disconnected" | "session_closed" = "disconnected") =>
    findPeer(peerId).pipe(
      Effect.flatMap((peer) =>
        peerStatus(peer) === "offline"
          ? Effect.void
          : Effect.asVoid(commit([{ type: "peer.went_offline", data: { peerId, reason } }]))
      ),
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

  /**
   * A claim by a peer that is not online loses. With several broker nodes, another node's sweeper
   * (which cannot see this node's parked waits) may have found the peer stale: a waiting peer is
   * alive, so its claim says so in the same append rather than losing claim after claim.
   */
  const claimDrafts = (commandId: string, peerId: string): ReadonlyArray<EventDraft> => {
    const peer = projection.peers.get(peerId)
    const delivered: EventDraft = { type: "command.delivered", data: { commandId, peerId, leaseMs: config.leaseMs } }
    return peer && peerStatus(peer) !== "online" ? [{ type: "peer.heartbeat", data: { peerId } }, delivered] : [delivered]
  }

  /** The projection keeps the first claim in log order, so a claim is ours only if it recorded our event. */
  const wonClaim = (commandId: string, claimSeq: number): CommandView | undefined => {
    const command = projection.commands.get(commandId)
    return command && command.context.deliveredSeq === claimSeq ? commandView(command) : undefined
  }

  /** Claim by appending `command.delivered`; undefined when another claim came first. */
  const claim = (commandId: string, peerId: string): Effect.Effect<CommandView | undefined, LogUnavailable> =>
    Effect.suspend(() => {
      claiming.add(commandId)
      return commit(claimDrafts(commandId, peerId)).pipe(
        Effect.map((stored) => wonClaim(commandId, stored[stored.length - 1]!.seq)),
        Effect.ensuring(Effect.sync(() => claiming.delete(commandId)))
      )
    })

  /** The oldest pending command a peer may take that no claim of this node is after already. */
  const firstClaimableFor = (peerId: string): CommandSnapshot | undefined => {
    const peer = projection.peers.get(peerId)
    if (!peer) return undefined
    for (const command of projection.pendingOf(peer.context.id, peer.context.role)) {
      if (!claiming.has(command.context.id)) return command
    }
    return undefined
  }

  /**
   * A parked wait this node may hand a command it is sending: the longest-parked one on the target
   * whose peer has nothing older to take. Reserving it takes it out of every index and stops its
   * timeout, so it waits for the outcome of the append that carries its claim.
   */
  const reserveWaitFor = (target: string) => {
    for (const wait of commandWaiters.on(target)) {
      if (!projection.peers.has(wait.peerId) || firstClaimableFor(wait.peerId) !== undefined) continue
      const handOff = wait.reserve()
      if (handOff) return { peerId: wait.peerId, handOff }
    }
    return undefined
  }

  const sendCommand = (request: SendCommandRequest) =>
    Effect.suspend(() => {
      const commandId = newCommandId()
      const sent: EventDraft = {
        type: "command.sent",
        data: {
          commandId,
          from: request.from,
          target: request.target,
          action: request.action,
          params: request.params ?? null,
          ttlMs: request.ttlMs ?? null
        }
      }
      const answer = Effect.suspend(() => present(projection.commands.get(commandId), "the command", commandView))
      const taker = reserveWaitFor(request.target)
      if (taker === undefined) return Effect.zipRight(commit([sent]), answer)
      // A peer is parked waiting for this command: its claim goes to the log in the same append
      // (one write, one fsync for the whole round trip), right behind the command. Log order still
      // decides: on a shared log another node's claim may land in between, and then ours loses.
      // Uninterruptible, so that the parked wait always hears how its claim went.
      claiming.add(commandId)
      return commit([sent, ...claimDrafts(commandId, taker.peerId)]).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            claiming.delete(commandId)
            taker.handOff(commandId, exit)
          })
        ),
        Effect.uninterruptible,
        Effect.zipRight(answer)
      )
    })

  /** How a parked command wait ends: a wake-up to look again, its timeout, or a command handed to it. */
  type CommandWake =
    | { readonly kind: "woken" }
    | { readonly kind: "timeout" }
    | {
        readonly kind: "handed"
        readonly commandId: string
        readonly appended: Exit.Exit<ReadonlyArray<BrokerEvent>, LogUnavailable>
      }

  /**
   * Park a command wait on the peer's id and role for at most `timeoutMs`. `onWoken` runs the moment
   * a wake-up is spent on it, before the fiber resumes, so that a wait interrupted in between still
   * knows to pass the wake-up on.
   */
  const parkCommandWait = (peerId: string, timeoutMs: number, onWoken: () => void): Effect.Effect<CommandWake> =>
    parkUntil<CommandWake>(
      ({ wake, hold }) => {
        const wait: ParkedCommandWait = {
          peerId,
          wake: () => {
            onWoken()
            wake({ kind: "woken" })
          },
          reserve: () => {
            const handOff = hold()
            return handOff && ((commandId, appended) => handOff({ kind: "handed", commandId, appended }))
          }
        }
        const role = projection.peers.get(peerId)?.context.role
        return role === undefined || role === peerId
          ? [commandWaiters.add(peerId, wait)]
          : [commandWaiters.add(peerId, wait), commandWaiters.add(role, wait)]
      },
      timeoutMs,
      { kind: "timeout" }
    )

  const waitForCommand = (peerId: string, timeoutMs: number): Waits<CommandView, LogUnavailable | NotFound> =>
    Effect.gen(function* () {
      // Refuse before recording anything: a refused request leaves the log as it was.
      if (timeoutMs > 0 && (waitsByPeer.get(peerId) ?? 0) >= config.maxWaitsPerPeer) {
        return yield* new TooManyWaits({
          message: `peer '${peerId}' has ${config.maxWaitsPerPeer} waits parked already; one is enough`
        })
      }
      yield* touch(peerId)
      return yield* admitted(timeoutMs, waitForCommandAdmitted(peerId, timeoutMs))
    })

  const waitForCommandAdmitted = (peerId: string, timeoutMs: number): Fails<WaitResult<CommandView>> =>
    Effect.suspend(() => {
      const deadline = Date.now() + timeoutMs
      waitsByPeer.set(peerId, (waitsByPeer.get(peerId) ?? 0) + 1)
      let woken = false
      const attempt: Fails<WaitResult<CommandView>> = Effect.suspend(() => {
        woken = false
        const found = firstClaimableFor(peerId)
        if (found !== undefined) {
          return Effect.flatMap(claim(found.context.id, peerId), (won) =>
            won ? Effect.succeed({ value: won, timedOut: false }) : attempt
          )
        }
        const left = deadline - Date.now()
        if (left <= 0) return Effect.succeed({ value: null, timedOut: true })
        const onWoken = () => {
          woken = true
        }
        return Effect.flatMap(parkCommandWait(peerId, left, onWoken), (wake): Fails<WaitResult<CommandView>> => {
          if (wake.kind === "timeout") return Effect.succeed({ value: null, timedOut: true })
          if (wake.kind === "woken") return attempt
          // A handed command whose append failed, or whose claim lost, leaves the wait as it was.
          const won = Exit.isSuccess(wake.appended)
            ? wonClaim(wake.commandId, wake.appended.value[wake.appended.value.length - 1]!.seq)
            : undefined
          return won ? Effect.succeed({ value: won, timedOut: false }) : attempt
        })
      })
      return attempt.pipe(
        Effect.ensuring(
          Effect.sync(() => {
            const left = (waitsByPeer.get(peerId) ?? 1) - 1
            if (left === 0) waitsByPeer.delete(peerId)
            else waitsByPeer.set(peerId, left)
            // Woken for a command but gone before claiming it: hand the wake-up to the next waiter.
            if (woken) redispatch(peerId)
          })
        )
      )
    })

  /** Wake the next waiter for each queue this peer could have taken from (its id's and its role's). */
  const redispatch = (peerId: string) => {
    const peer = projection.peers.get(peerId)
    if (!peer) return
    for (const command of projection.pendingOf(peer.context.id, peer.context.role)) {
      if (claiming.has(command.context.id)) continue
      commandWaiters.wakeOne(command.context.target)
    }
  }

  /**
   * A caller that names itself as a peer may only settle what it holds (or, for a cancel, what it
   * sent); an anonymous caller (a person with curl, the dashboard) may settle anything.
   */
  const mayActOn = (by: string | null, command: CommandSnapshot, verb: string): Effect.Effect<void, Forbidden> => {
    const { deliveredTo, from, id } = command.context
    if (by === null || deliveredTo === null || deliveredTo === by || (verb === "cancelled" && from === by)) {
      return Effect.void
    }
    return Effect.fail(
      new Forbidden({ message: `command '${id}' is delivered to peer '${deliveredTo}'; '${by}' may not have it ${verb}` })
    )
  }

  const settle = (
    commandId: string,
    draft: EventDraft,
    verb: "acked" | "cancelled",
    by: string | null
  ): Effect.Effect<CommandView, LogUnavailable | NotFound | Conflict | Forbidden> =>
    findCommand(commandId).pipe(
      Effect.flatMap((before): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable | Conflict | Forbidden> => {
        const status = commandStatus(before)
        return isSettled(status)
          ? Effect.fail(new Conflict({ message: `command '${commandId}' is already ${status}; it cannot be ${verb}` }))
          : Effect.zipRight(mayActOn(by, before, verb), commit([draft]))
      }),
      Effect.flatMap(([event]) =>
        Effect.flatMap(findCommand(commandId), (after) =>
          after.context.settledSeq === event!.seq
            ? Effect.succeed(commandView(after))
            : Effect.fail(
                new Conflict({
                  message: `command '${commandId}' was ${commandStatus(after)} by another request first`
                })
              )
        )
      )
    )

  const ack: BrokerService["ack"] = (commandId, outcome) =>
    settle(commandId, { type: "command.acked", data: { commandId, ...outcome } }, "acked", outcome.by)

  const cancel: BrokerService["cancel"] = (commandId, by) =>
    settle(commandId, { type: "command.cancelled", data: { commandId, by } }, "cancelled", by)

  const waitForResult = (commandId: string, timeoutMs: number): Waits<CommandView, LogUnavailable | NotFound> =>
    findCommand(commandId).pipe(
      Effect.zipRight(
        waitUntilAdmitted(
          () => {
            const command = projection.commands.get(commandId)
            // Gone (a reset) counts as an answer, turned into NotFound below.
            return command === undefined ? null : isSettled(commandStatus(command)) ? command : undefined
          },
          (wake) => [resultWaiters.add(commandId, wake)],
          timeoutMs
        )
      ),
      Effect.flatMap((found): Fails<WaitResult<CommandView>> => {
        if (found.timedOut) {
          return Effect.map(findCommand(commandId), (command) => ({ value: commandView(command), timedOut: true }))
        }
        return found.value === null
          ? Effect.fail(new NotFound({ message: `command '${commandId}' was removed by a reset` }))
          : Effect.succeed({ value: commandView(found.value), timedOut: false })
      })
    )

  // Channels

  const messageIdOf = (channel: string, seq: number): number | undefined => {
    const snapshot = projection.channels.get(channel)
    return snapshot && messageIdAt(snapshot.context, seq)
  }

  const publish = (channel: string, from: string | null, message: unknown) =>
    commit([{ type: "message.sent", data: { channel, from, message } }]).pipe(
      Effect.flatMap(([event]) =>
        present(
          messageIdOf(channel, event!.seq),
          "the message",
          (id) => messageView(id, event as BrokerEvent & MessageSent),
          "a reset or a retention trim"
        )
      )
    )

  const readMessages: BrokerService["readMessages"] = (channel, { since, limit, timeoutMs }) =>
    waitUntilAdmitted(
      () => {
        const snapshot = projection.channels.get(channel)
        // Only a message still held answers; a reader behind a trim is told so by firstId.
        return snapshot && snapshot.context.count > Math.max(since, snapshot.context.trimmed) ? snapshot : undefined
      },
      (wake) => [channelWaiters.add(channel, wake)],
      timeoutMs
    ).pipe(
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
    commit([{ type: "signal.fired", data: { name, data: data ?? null, by } }]).pipe(
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
    waitUntilAdmitted(
      () => {
        const snapshot = projection.signals.get(name)
        return snapshot?.value === "fired" ? snapshot : undefined
      },
      (wake) => [signalWaiters.add(name, wake)],
      timeoutMs
    ).pipe(Effect.map(({ timedOut }) => ({ value: viewOfSignal(name), timedOut })))

  const clearSignal = (name: string) =>
    Effect.suspend(() =>
      projection.signals.get(name)?.value === "fired"
        ? Effect.asVoid(commit([{ type: "signal.cleared", data: { name } }]))
        : Effect.void
    ).pipe(Effect.map(() => signalView(name, projection.signals.get(name))))

  // System

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

  return Broker.of({
    connect,
    heartbeat,
    disconnect,
    peers: Effect.sync(() => [...projection.peers.values()].map(livePeerView)),
    peer: (peerId) => Effect.map(findPeer(peerId), livePeerView),
    sendCommand,
    commandsFor,
    waitForCommand,
    ack,
    cancel,
    command: (commandId) => Effect.map(findCommand(commandId), commandView),
    waitForResult,
    commands: ({ status, limit }) => Effect.sync(() => recentCommands(projection, limit, status)),
    publish,
    readMessages,
    channels: Effect.sync(() => [...projection.channels.values()].map(channelView)),
    fire,
    signal: (name) => Effect.sync(() => signalView(name, projection.signals.get(name))),
    waitForSignal,
    clearSignal,
    signals: Effect.sync(() => [...projection.signals.entries()].map(([name, s]) => signalView(name, s))),
    reset: (by) => Effect.asVoid(commit([{ type: "broker.reset", data: { by } }])),
    record: commit,
    recordIfHead,
    // The log's state, as /status?at=<head> shows it too: lastSeenAt there is the last recorded sign of life.
    status: Effect.suspend(() => withLog(stateView(projection))),
    statusAt: (seq) =>
      Effect.flatMap(log.head, (head): Effect.Effect<Status, LogUnavailable | BadRequest> =>
        seq > head
          ? Effect.fail(new BadRequest({ message: `the log ends at seq ${head}; there is no event ${seq}` }))
          : Effect.flatMap(checkpoints.at(seq), (past) => withLog(stateView(past)))
      ),
    openStream,
    follow: (from, deliver, paced) => log.follow(from, deliver, paced),
    exportLog,
    head: log.head,
    activeWaits: (peerId) => waitsByPeer.get(peerId) ?? 0,
    stats: Effect.sync(() => ({ waits, subscribers })),
    projection,
    liveness,
    onNotice: (listener) => notices.listen(listener),
    health: Effect.sync(() => applier.health),
    broken: Deferred.await(brokenFor)
  })
})

export const BrokerLive = Layer.scoped(Broker, makeBroker)
