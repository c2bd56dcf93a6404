import { Chunk, Clock, Context, Effect, Layer, Option, Schedule, Stream } from "effect"
import type { BrokerEvent, EventDraft, MessageSent, PeerConnected } from "../core/events.js"
import { BadRequest, Conflict, Forbidden, NotFound, TooManyWaits, type LogUnavailable } from "../core/errors.js"
import { commandStatus, isSettled, type CommandSnapshot, type CommandStatus } from "../core/machines/command.js"
import { peerStatus } from "../core/machines/peer.js"
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
import { BrokerConfig } from "./Config.js"
import { newCommandId, newPeerId } from "./ids.js"
import { Checkpoints } from "./Checkpoints.js"
import { version } from "../version.js"
import { Waiters } from "./waiters.js"

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
  ) => Effect.Effect<
    { readonly messages: ReadonlyArray<MessageView>; readonly lastId: number },
    LogUnavailable | TooManyWaits
  >
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
   * Every event from `from` on, stored then live: the log itself, for SSE. Admission is decided
   * now (TooManyWaits when all places among the live streams are taken, so a refused client can
   * get a proper 429); the place is held while the stream runs.
   */
  readonly follow: (from: number) => Effect.Effect<Stream.Stream<BrokerEvent, LogUnavailable>, TooManyWaits>
  readonly exportLog: (from: number, to: number) => Stream.Stream<BrokerEvent, LogUnavailable>
  readonly head: Effect.Effect<number>
  /** Parked long-polls, for the sweeper (a peer parked in a wait is alive) and for metrics. */
  readonly activeWaits: (peerId: string) => number
  readonly stats: Effect.Effect<{ readonly waits: number; readonly subscribers: number }>
  readonly projection: Projection
}

export class Broker extends Context.Tag("claude-ipc-broker/Broker")<Broker, BrokerService>() {}

/** A peer's wait counts as a sign of life, but not one worth an event more often than this. */
const touchEveryMs = 5_000
const exportPage = 1_000
const catchUpPage = 10_000

export const makeBroker = Effect.gen(function* () {
  const log = yield* EventLog
  const config = yield* BrokerConfig
  const checkpoints = yield* Checkpoints
  const startedAt = new Date().toISOString()

  const projection = checkpoints.initial
  const commandWaiters = new Waiters<string>() // by peer id and by role
  const resultWaiters = new Waiters<string>() // by command id
  const channelWaiters = new Waiters<string>()
  const signalWaiters = new Waiters<string>()
  const appliedWaiters = new Waiters<number>()
  const waitsByPeer = new Map<string, number>()
  /** Claims this node has in flight, so that two local waiters do not race for one command. */
  const claiming = new Set<string>()

  const dispatch = (change: Change): void => {
    switch (change.kind) {
      case "command.pending":
        commandWaiters.wakeOne(change.target)
        return
      case "command.settled":
        resultWaiters.wakeAll(change.commandId)
        return
      case "message":
        channelWaiters.wakeAll(change.channel)
        return
      case "signal":
        signalWaiters.wakeAll(change.name)
        return
      case "reset":
        resultWaiters.wakeEverything()
        return
      default:
        return
    }
  }

  const applyEvent = (event: BrokerEvent): void => {
    if (event.seq !== projection.seq + 1) return // a replayed duplicate
    for (const change of projection.apply(event)) dispatch(change)
    checkpoints.observe(projection)
    appliedWaiters.wakeAll(event.seq)
  }

  // Catch up with the log, then follow it: every event, ours or another node's, enters here.
  // Catching up goes page by page, so a long log is never held in memory at once.
  // A long replay says how far it got, about once a second, so a slow start is visibly busy.
  const replayTo = yield* log.head
  let reportedAt = yield* Clock.currentTimeMillis
  let page: ReadonlyArray<BrokerEvent>
  do {
    page = yield* log.read(projection.seq + 1, undefined, catchUpPage)
    page.forEach(applyEvent)
    const now = yield* Clock.currentTimeMillis
    if (now - reportedAt >= 1000 && page.length === catchUpPage) {
      reportedAt = now
      yield* Effect.logInfo(`replaying the log: ${projection.seq.toLocaleString("en-US")} / ${replayTo.toLocaleString("en-US")} events`)
    }
  } while (page.length === catchUpPage)
  yield* Effect.suspend(() =>
    log.tail(projection.seq + 1).pipe(Stream.runForEach((event) => Effect.sync(() => applyEvent(event))))
  ).pipe(
    Effect.tapErrorCause((cause) => Effect.logWarning("log tail failed; following again", cause)),
    Effect.retry(Schedule.spaced("1 second")),
    Effect.forkScoped
  )

  /** Park until `wake` is called through one of the registrations, or until interrupted. */
  const park = (register: (wake: () => void) => ReadonlyArray<() => void>): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      let removers: ReadonlyArray<() => void> = []
      const wake = () => {
        for (const remove of removers) remove()
        resume(Effect.void)
      }
      removers = register(wake)
      return Effect.sync(() => {
        for (const remove of removers) remove()
      })
    })

  const whenApplied = (seq: number): Effect.Effect<void> =>
    Effect.suspend(() => (projection.seq >= seq ? Effect.void : park((wake) => [appliedWaiters.add(seq, wake)])))

  /** Append and wait until the projection reflects it: read-your-writes for every request. */
  const commit = (drafts: ReadonlyArray<EventDraft>) =>
    Effect.tap(log.append(drafts), (stored) => whenApplied(stored[stored.length - 1]!.seq))

  /** A conditional commit on a shared log (JetStream's expected-last-sequence); see BrokerService. */
  const recordIfHead = (seq: number, drafts: ReadonlyArray<EventDraft>): Effect.Effect<boolean, LogUnavailable> => {
    const appendIfHead = log.appendIfHead
    if (drafts.length === 0) return Effect.succeed(true)
    if (appendIfHead === undefined) return Effect.as(commit(drafts), true)
    return appendIfHead(seq, drafts).pipe(
      Effect.flatMap((stored) => Effect.as(whenApplied(stored[stored.length - 1]!.seq), true)),
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

  const follow = (from: number) =>
    Effect.suspend(() =>
      subscribers >= config.maxSubscribers
        ? Effect.fail(new TooManyWaits({ message: `${subscribers} event streams are open already; retry later` }))
        : Effect.succeed(
            Stream.scoped(Effect.acquireRelease(Effect.sync(() => void subscribers++), () => Effect.sync(() => void subscribers--))).pipe(
              Stream.flatMap(() => log.tail(from))
            )
          )
    )

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
      return park(register).pipe(
        Effect.timeoutOption(left),
        Effect.flatMap(Option.match({ onNone: () => Effect.succeed({ value: null, timedOut: true }), onSome: () => loop }))
      )
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
   * in between clears it: the write is in the log, but there is nothing left to show.
   */
  const present = <A, B>(value: A | undefined, what: string, view: (value: A) => B): Effect.Effect<B, Conflict> =>
    value === undefined
      ? Effect.fail(new Conflict({ message: `${what} was recorded, but a reset that landed right after it cleared it` }))
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
        present(projection.peers.get((event as PeerConnected).data.peerId), "the peer", peerView)
      )
    )

  const heartbeat = (peerId: string) =>
    findPeer(peerId).pipe(
      Effect.zipRight(commit([{ type: "peer.heartbeat", data: { peerId } }])),
      Effect.zipRight(findPeer(peerId)),
      Effect.map(peerView)
    )

  const disconnect = (peerId: string, reason: "disconnected" | "session_closed" = "disconnected") =>
    findPeer(peerId).pipe(
      Effect.flatMap((peer) =>
        peerStatus(peer) === "offline"
          ? Effect.void
          : Effect.asVoid(commit([{ type: "peer.went_offline", data: { peerId, reason } }]))
      ),
      Effect.zipRight(findPeer(peerId)),
      Effect.map(peerView)
    )

  /** A waiting peer is alive: record it, at most every few seconds. */
  const touch = (peerId: string) =>
    findPeer(peerId).pipe(
      Effect.flatMap((peer) =>
        peerStatus(peer) === "online" && Date.now() - Date.parse(peer.context.lastSeenAt) < touchEveryMs
          ? Effect.void
          : Effect.asVoid(commit([{ type: "peer.heartbeat", data: { peerId } }]))
      )
    )

  // Commands

  const sendCommand = (request: SendCommandRequest) =>
    Effect.suspend(() => {
      const commandId = newCommandId()
      return commit([
        {
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
      ]).pipe(Effect.flatMap(() => present(projection.commands.get(commandId), "the command", commandView)))
    })

  const commandsFor = (peerId: string) =>
    Effect.map(findPeer(peerId), (peer) =>
      [...projection.pendingFor(peer.context.id, peer.context.role), ...projection.heldBy(peerId)]
        .sort((a, b) => a.context.sentSeq - b.context.sentSeq)
        .map(commandView)
    )

  /**
   * Claim by appending `command.delivered`; the projection keeps the first claim in log order, so
   * the claim is ours only if the winning seq is our event's.
   */
  const claim = (commandId: string, peerId: string): Effect.Effect<CommandView | undefined, LogUnavailable> =>
    Effect.suspend(() => {
      claiming.add(commandId)
      // A claim by a peer that is not online loses. With several broker nodes, another node's sweeper
      // (which cannot see this node's parked waits) may have found the peer stale: a waiting peer is
      // alive, so say so in the same append rather than losing claim after claim.
      const peer = projection.peers.get(peerId)
      const alive: ReadonlyArray<EventDraft> =
        peer && peerStatus(peer) !== "online" ? [{ type: "peer.heartbeat", data: { peerId } }] : []
      return commit([...alive, { type: "command.delivered", data: { commandId, peerId, leaseMs: config.leaseMs } }]).pipe(
        Effect.map((stored) => {
          const event = stored[stored.length - 1]
          const command = projection.commands.get(commandId)
          return command && command.context.deliveredSeq === event!.seq ? commandView(command) : undefined
        }),
        Effect.ensuring(Effect.sync(() => claiming.delete(commandId)))
      )
    })

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
    Effect.gen(function* () {
      const deadline = Date.now() + timeoutMs
      waitsByPeer.set(peerId, (waitsByPeer.get(peerId) ?? 0) + 1)
      let woken = false
      const nextClaimable = () => {
        const peer = projection.peers.get(peerId)
        if (!peer) return undefined
        return projection
          .pendingFor(peer.context.id, peer.context.role)
          .find((command) => !claiming.has(command.context.id))
      }
      const register = (wake: () => void) => {
        const role = projection.peers.get(peerId)?.context.role
        const wakeMe = () => {
          woken = true
          wake()
        }
        return role === undefined || role === peerId
          ? [commandWaiters.add(peerId, wakeMe)]
          : [commandWaiters.add(peerId, wakeMe), commandWaiters.add(role, wakeMe)]
      }
      return yield* Effect.gen(function* () {
        while (true) {
          const found = yield* waitUntil(nextClaimable, register, Math.max(0, deadline - Date.now()))
          woken = false
          if (found.value === null) return { value: null, timedOut: true }
          const won = yield* claim(found.value.context.id, peerId)
          if (won) return { value: won, timedOut: false }
        }
      }).pipe(
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

  const redispatch = (peerId: string) => {
    const peer = projection.peers.get(peerId)
    if (!peer) return
    for (const command of projection.pendingFor(peer.context.id, peer.context.role)) {
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

  /** Message ids are positions in the channel's seq index; find ours by binary search. */
  const messageIdOf = (channel: string, seq: number): number | undefined => {
    const snapshot = projection.channels.get(channel)
    if (!snapshot) return undefined
    const { seqs, count } = snapshot.context
    let lo = 0
    let hi = count
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (seqs[mid]! < seq) lo = mid + 1
      else hi = mid
    }
    return lo < count && seqs[lo] === seq ? lo + 1 : undefined
  }

  const publish = (channel: string, from: string | null, message: unknown) =>
    commit([{ type: "message.sent", data: { channel, from, message } }]).pipe(
      Effect.flatMap(([event]) =>
        present(messageIdOf(channel, event!.seq), "the message", (id) =>
          messageView(id, event as BrokerEvent & MessageSent)
        )
      )
    )

  const readMessages: BrokerService["readMessages"] = (channel, { since, limit, timeoutMs }) =>
    waitUntilAdmitted(
      () => {
        const snapshot = projection.channels.get(channel)
        return snapshot && snapshot.context.count > since ? snapshot : undefined
      },
      (wake) => [channelWaiters.add(channel, wake)],
      timeoutMs
    ).pipe(
      Effect.flatMap(({ value }) => {
        const lastId = projection.channels.get(channel)?.context.count ?? 0
        if (value === null) return Effect.succeed({ messages: [], lastId })
        const { seqs, count } = value.context
        const first = Math.max(0, since)
        const last = Math.min(count, first + limit)
        return log
          .readSeqs(seqs.slice(first, last))
          .pipe(
            Effect.map((events) => ({
              messages: events.map((event, i) => messageView(first + i + 1, event as BrokerEvent & MessageSent)),
              lastId
            }))
          )
      })
    )

  // Signals

  const fire = (name: string, data: unknown, by: string | null) =>
    commit([{ type: "signal.fired", data: { name, data: data ?? null, by } }]).pipe(
      Effect.map(() => signalView(name, projection.signals.get(name)))
    )

  const waitForSignal = (name: string, timeoutMs: number) =>
    waitUntilAdmitted(
      () => {
        const snapshot = projection.signals.get(name)
        return snapshot?.value === "fired" ? snapshot : undefined
      },
      (wake) => [signalWaiters.add(name, wake)],
      timeoutMs
    ).pipe(Effect.map(({ timedOut }) => ({ value: signalView(name, projection.signals.get(name)), timedOut })))

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
    peers: Effect.sync(() => [...projection.peers.values()].map(peerView)),
    peer: (peerId) => Effect.map(findPeer(peerId), peerView),
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
    status: Effect.suspend(() => withLog(stateView(projection))),
    statusAt: (seq) =>
      Effect.flatMap(log.head, (head): Effect.Effect<Status, LogUnavailable | BadRequest> =>
        seq > head
          ? Effect.fail(new BadRequest({ message: `the log ends at seq ${head}; there is no event ${seq}` }))
          : Effect.flatMap(checkpoints.at(seq), (past) => withLog(stateView(past)))
      ),
    follow,
    exportLog,
    head: log.head,
    activeWaits: (peerId) => waitsByPeer.get(peerId) ?? 0,
    stats: Effect.sync(() => ({ waits, subscribers })),
    projection
  })
})

export const BrokerLive = Layer.scoped(Broker, makeBroker)
