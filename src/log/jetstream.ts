import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { delay, errors as natsErrors, nuid, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Either, Layer, Runtime, type Scope } from "effect"
import { bodyOf, isBrokerEvent, storedAt, type BrokerEvent, type EventDraft } from "../core/events.js"
import type { LogUnavailable } from "../core/errors.js"
import { type Appended, EventLog, HeadMoved, type EventLogService, type LogPosition } from "./EventLog.js"
import { startFollowerRun, type FollowerRun } from "./jetstreamFollower.js"
import { gossipSubject, makeGossipChannel, subjectMatches, type GossipChannel } from "./jetstreamLiveness.js"
import { ViewPosition } from "./jetstreamPosition.js"
import { AckTimeout, Publisher, type Ack } from "./jetstreamPublisher.js"
import {
  connectToNats,
  ensureStream,
  resolveOptions,
  unavailable,
  wrongLastSequence,
  type JetStreamLogOptions,
  type ResolvedJetStreamOptions
} from "./jetstreamStream.js"
import { StreamOrder } from "./jetstreamOrder.js"
import { LiveFeed, listenerFailures } from "./liveFeed.js"
import { RecentEvents } from "./recentEvents.js"
import { nextTimestamp } from "./timestamps.js"

export type { JetStreamLogOptions } from "./jetstreamStream.js"

/** Runs of at most this many missing events are read with direct gets, longer ones with a consumer. */
const maxDirectRun = 16
/** Events per consumer fetch when reading a long range. */
const fetchPage = 4096
/** A range read that receives nothing for this long fails. */
const fetchExpiresMs = 5_000

/** Bytes of events the node keeps in memory at most (see `recentEvents`). */
const recentBytes = 64 * 1024 * 1024

/** The JetStream log adds a little introspection to the contract, for tests and /status. */
export interface JetStreamLogService extends EventLogService {
  readonly stream: string
  readonly subject: string
  /** False while the NATS connection is down: appends fail fast with 503 until it is back. */
  readonly connected: () => boolean
  readonly position: () => LogPosition
}

/**
 * The distributed log: one JetStream stream that any number of broker processes share. Each event
 * is one message on the stream's only subject, so the stream sequence *is* the event's seq (dense
 * from 1 because nothing else publishes there and the stream denies deletes and purges; every read
 * checks it). An append resolves after JetStream's PubAck — durable as the stream's replicas and the
 * servers' sync settings make it — and once this node's view of the stream has caught up to it.
 * docs/scaling.md discusses `at`, batches, checkpoints and reconnection.
 */
export const makeJetStreamLog = (
  options: JetStreamLogOptions
): Effect.Effect<JetStreamLogService, LogUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = resolveOptions(options)
    const { stream, subject } = resolved
    const { nc, jsm } = yield* Effect.acquireRelease(connectToNats(options, resolved), ({ nc }) =>
      Effect.promise(() => nc.close().catch(() => undefined))
    )
    const js = jetstream(nc)
    const info = yield* ensureStream(jsm, resolved)
    const allowDirect = info.config.allow_direct === true
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024

    // The follower and the connection watcher below run as plain promises: they log through the
    // layer's runtime, so that --log-format json and --log-level apply to them too.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const warn = (message: string) => void runFork(Effect.logWarning(message))
    const feed = new LiveFeed(yield* listenerFailures)
    const recent = new RecentEvents(resolved.recentEvents, recentBytes)
    let lastAt = ""
    const order = new StreamOrder(info.state.last_seq, recent, feed, (at) => {
      if (at > lastAt) lastAt = at
    })
    let closed = false
    let connected = true
    /** Set when the stream holds something that is not a broker event: nothing can be trusted after it. */
    let broken: LogUnavailable | undefined

    const reader = makeReader(jsm, js, resolved, allowDirect)
    // The newest stored event: its `at` is where this node's timestamps continue from.
    if (order.head > 0) {
      const [last] = yield* Effect.tryPromise({
        try: () => reader.run(order.head, order.head),
        catch: (cause) => asUnavailable(cause, `cannot read the last event of stream ${stream}`)
      })
      lastAt = last!.at
    }

    const viewPosition = new ViewPosition(order)
    const heardOf = (seq: number) => viewPosition.heardOf(seq)
    const tookUp = () => viewPosition.tookUp()
    const position = (): LogPosition => viewPosition.now(connected && !closed && broken === undefined)

    // The follower: every event of the stream, every node's, in order, from this node's head on —
    // runs of an ordered push consumer (jetstreamFollower.ts), each started again from the head when
    // the one before ended. Its consumer requests give up sooner than other API calls: during a
    // leader election a short timeout and another try reach the new leader sooner than one long wait.
    const followerJsm = yield* Effect.promise(() => jetstreamManager(nc, { timeout: 2_000, checkAPI: false }))
    let run: FollowerRun | undefined
    let wake: (() => void) | undefined
    const restartFollower = () => {
      run?.stop()
      wake?.()
    }
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      }).finally(() => (wake = undefined))
    const follower = (async () => {
      let failures = 0
      while (!closed && broken === undefined) {
        const from = order.head
        run = startFollowerRun(
          nc,
          followerJsm,
          stream,
          from + 1,
          {
            message: (seq, body) => {
              if (seq <= order.head) return
              // The consumer starts at our head and delivers every position: a later one means the
              // stream skipped some. The run ends, and the loop reads them (which fails on a real gap).
              if (seq > order.head + 1) throw new Skipped(seq)
              const text = body()
              order.offer(decode(seq, text, resolved), text.length)
              tookUp()
            },
            streamLast: heardOf
          },
          resolved.heartbeatMs
        )
        const { reason, error } = await run.ended
        run = undefined
        if (closed) break
        try {
          if (error instanceof Skipped) {
            for (const event of await reader.run(order.head + 1, error.seq - 1)) order.offer(event, 0)
            tookUp()
            continue
          }
          if (error !== undefined) throw error
        } catch (cause) {
          if (isCorrupt(cause)) {
            broken = cause.error
            runFork(Effect.logError(cause.error.message))
            order.releaseAll()
            break
          }
          if (failures === 0) warn(`jetstream log: following stream ${stream} failed; retrying: ${describe(cause)}`)
        }
        if (reason === "stopped" || order.head > from) {
          failures = 0
          continue
        }
        if (failures === 0 && error === undefined) warn(`jetstream log: following stream ${stream}: ${reason}; following again`)
        await pause(Math.min(5_000, 100 * 2 ** Math.min(failures++, 6)))
      }
    })()

    // The probe: a view that is behind the stream and has not moved since the last look is stuck (a
    // consumer that went quiet without saying so): follow again from the head.
    let probing = false
    let stuckSince: number | undefined
    const probe = setInterval(() => {
      if (probing || closed || !connected || broken !== undefined) return
      probing = true
      const headBefore = order.head
      jsm.streams
        .info(stream)
        .then((info) => {
          heardOf(info.state.last_seq)
          if (!viewPosition.behind || order.head > headBefore) {
            stuckSince = undefined
            return
          }
          stuckSince ??= Date.now()
          if (Date.now() - stuckSince >= resolved.probeIntervalMs) {
            warn(
              `jetstream log: this node's view of stream ${stream} is stuck at ${order.head} while the stream ` +
                `holds ${viewPosition.streamHead}; following again`
            )
            stuckSince = undefined
            restartFollower()
          }
        })
        .catch(() => undefined)
        .finally(() => (probing = false))
    }, resolved.probeIntervalMs)
    probe.unref()

    // Liveness gossip beside the stream (jetstreamLiveness.ts), on a subject the stream cannot capture.
    // A stream subject configured so broadly that it would (`>`, say) gets no gossip: its nodes record
    // heartbeats in the log as before, which is correct, only costlier.
    const livenessSubject = gossipSubject(stream)
    let gossip: GossipChannel | undefined
    if (subjectMatches(subject, livenessSubject)) {
      warn(
        `jetstream log: stream ${stream} captures '${subject}', which matches the liveness subject '${livenessSubject}'; ` +
          `peers' signs of life are recorded in the log instead of gossiped`
      )
    } else {
      gossip = makeGossipChannel(nc, livenessSubject, maxPayload, () => connected && !closed)
    }

    // Connection state: appends fail fast while disconnected; the follower starts over on reconnecting.
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          connected = false
          if (!closed) warn(`jetstream log: lost the NATS connection (${status.server}); reconnecting`)
        } else if (status.type === "reconnect") {
          connected = true
          warn(`jetstream log: reconnected to NATS (${status.server})`)
          // Gossip heard by others while this node was cut off never reached it.
          gossip?.reconnected()
          // The follower's consumer died with the connection: follow again from our head now rather
          // than when its heartbeats are missed.
          restartFollower()
        }
      }
    })().catch(() => undefined)

    const msgPrefix = nuid.next()
    let msgCounter = 0
    const publisher = new Publisher(nc, { subject, ackTimeoutMs: resolved.ackTimeoutMs, closed: () => closed })

    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        closed = true
        clearInterval(probe)
        order.releaseAll()
        publisher.close(new Error(`stream ${stream}: the log is closed`))
        restartFollower()
        void follower.catch(() => undefined)
        await nc.close().catch(() => undefined)
      })
    )

    const refusal = (): LogUnavailable | undefined =>
      broken ??
      (closed
        ? unavailable(`stream ${stream}: the log is closed`)
        : !connected
          ? unavailable(`not connected to NATS (${resolved.servers.join(",")}); reconnecting`)
          : undefined)

    const prepare = (drafts: ReadonlyArray<EventDraft>) => {
      const at = (lastAt = nextTimestamp(lastAt))
      const bodies = drafts.map((draft) => encode(at, draft))
      const tooLarge = bodies.find((body) => Buffer.byteLength(body, "utf8") > maxPayload)
      return { at, bodies, tooLarge }
    }

    /**
     * Once every event of an append is acknowledged: take them into this node's view (its own acks
     * are the fast path; another node's events before them arrive through the follower), and resolve
     * once the view reached the last — durable is not enough, the request's own answer must reflect
     * it. Usually that is at once; only a gap before our events needs a wait, and only then a timer.
     */
    const settleAppend = (
      drafts: ReadonlyArray<EventDraft>,
      at: string,
      acks: ReadonlyArray<Ack>,
      bodies: ReadonlyArray<string>,
      deadline: number,
      done: (stored: Appended) => void
    ): (() => void) | undefined => {
      const events = acks.map((ack, i) => {
        const event = storedAt(ack.seq, at, drafts[i]!)
        order.offer(event, bodies[i]!.length)
        return event
      })
      // Heard of after taking them: our own events make the view lag only past a gap before them.
      heardOf(events[events.length - 1]!.seq)
      tookUp()
      const seq = events[events.length - 1]!.seq
      if (order.head >= seq) {
        done(Either.right(events))
        return undefined
      }
      // Released without reaching `seq` only when the log gave up (broken or closed).
      const gaveUp = () => broken ?? unavailable(`stream ${stream}: the log is closed`)
      if (broken !== undefined || closed) {
        done(Either.left(gaveUp()))
        return undefined
      }
      const timer = setTimeout(() => {
        remove()
        done(
          Either.left(
            unavailable(`stream ${stream}: event ${seq} is stored, but this node's view of the stream is stuck at ${order.head}`)
          )
        )
      }, Math.max(1, deadline - Date.now()))
      const remove = order.whenHead(seq, () => {
        clearTimeout(timer)
        done(order.head >= seq ? Either.right(events) : Either.left(gaveUp()))
      })
      return () => {
        clearTimeout(timer)
        remove()
      }
    }

    /**
     * An append as callbacks all the way (the broker's hot path calls it without a fiber): its
     * publishes queued back to back — nothing of ours lands between them — and `done` called once,
     * after this node's view has taken the events. Returns the way to stop waiting for the view.
     */
    const startAppend = (drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void): (() => void) | undefined => {
      if (drafts.length === 0) {
        done(Either.right([]))
        return undefined
      }
      const refused = refusal()
      if (refused) {
        done(Either.left(refused))
        return undefined
      }
      const { at, bodies, tooLarge } = prepare(drafts)
      if (tooLarge !== undefined) {
        done(Either.left(payloadTooLarge(tooLarge, maxPayload)))
        return undefined
      }
      const deadline = Date.now() + resolved.appendTimeoutMs
      const acks: Array<Ack> = new Array(bodies.length)
      let left = bodies.length
      let failed = false
      let cancel: (() => void) | undefined
      bodies.forEach((body, i) =>
        publisher.publish(body, `${msgPrefix}.${++msgCounter}`, deadline, (error, ack) => {
          if (failed) return
          if (error !== undefined) {
            failed = true
            done(Either.left(asUnavailable(error, `append to stream ${stream} failed`)))
            return
          }
          acks[i] = ack!
          if (--left === 0) cancel = settleAppend(drafts, at, acks, bodies, deadline, done)
        })
      )
      return () => cancel?.()
    }

    const appendWith = (drafts: ReadonlyArray<EventDraft>, done: (stored: Appended) => void): void =>
      void startAppend(drafts, done)

    const append = (drafts: ReadonlyArray<EventDraft>): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable> =>
      Effect.async<ReadonlyArray<BrokerEvent>, LogUnavailable>((resume) => {
        const cancel = startAppend(drafts, (stored) => resume(Either.isRight(stored) ? Effect.succeed(stored.right) : Effect.fail(stored.left)))
        return cancel === undefined ? undefined : Effect.sync(cancel)
      })

    /** One publish as a promise, for the conditional appends (rare: the sweeper's). */
    const publishOne = (body: string, deadline: number, lastSequence: number) =>
      new Promise<Ack>((resolve, reject) =>
        publisher.publish(
          body,
          `${msgPrefix}.${++msgCounter}`,
          deadline,
          (error, ack) => (error === undefined ? resolve(ack!) : reject(error)),
          lastSequence
        )
      )

    const appendIfHead = (
      expectedHead: number,
      drafts: ReadonlyArray<EventDraft>
    ): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable | HeadMoved> =>
      Effect.suspend(() => {
        if (drafts.length === 0) return Effect.succeed([])
        const refused = refusal()
        if (refused) return Effect.fail(refused)
        if (expectedHead < 1) return append(drafts) // JetStream cannot expect "empty"; nothing to race with yet
        const { at, bodies, tooLarge } = prepare(drafts)
        if (tooLarge !== undefined) return Effect.fail(payloadTooLarge(tooLarge, maxPayload))
        const deadline = Date.now() + resolved.appendTimeoutMs
        // One at a time, each expecting the one before it: the batch lands right after expectedHead or
        // stops at the first event that would not.
        const run = async () => {
          const acks: Array<Ack> = []
          for (let i = 0; i < bodies.length; i++) acks.push(await publishOne(bodies[i]!, deadline, expectedHead + i))
          return acks
        }
        return Effect.tryPromise({
          try: run,
          catch: (cause): LogUnavailable | HeadMoved => {
            const head = wrongLastSequence(cause)
            return head === undefined
              ? asUnavailable(cause, `conditional append to stream ${stream} failed`)
              : new HeadMoved({ head })
          }
        }).pipe(
          Effect.flatMap((acks) =>
            Effect.async<ReadonlyArray<BrokerEvent>, LogUnavailable>((resume) => {
              const cancel = settleAppend(drafts, at, acks, bodies, deadline, (stored) =>
                resume(Either.isRight(stored) ? Effect.succeed(stored.right) : Effect.fail(stored.left))
              )
              return cancel === undefined ? undefined : Effect.sync(cancel)
            })
          )
        )
      })

    /**
     * A read that needs the stream (the cache did not have it all). A timeout or a stream without a
     * leader for the moment (a failover) is retried, with a fresh request each time, for up to
     * `readTimeoutMs`: once the cluster settled the read goes through instead of failing.
     */
    const guarded = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, LogUnavailable> =>
      Effect.suspend(() => {
        const refused = refusal()
        if (refused) return Effect.fail(refused)
        const deadline = Date.now() + resolved.readTimeoutMs
        const attempt = async (): Promise<A> => {
          for (let tries = 0; ; tries++) {
            try {
              return await run()
            } catch (cause) {
              if (isCorrupt(cause) || closed || !isTransient(cause) || Date.now() >= deadline) throw cause
              await delay(Math.min(1_000, 50 * 2 ** Math.min(tries, 5)))
            }
          }
        }
        return Effect.tryPromise({
          try: attempt,
          catch: (cause) => {
            // A gap or a foreign message found by a read is as fatal as one found by the follower.
            if (isCorrupt(cause) && broken === undefined) {
              broken = cause.error
              runFork(Effect.logError(cause.error.message))
              order.releaseAll()
            }
            return asUnavailable(cause, `${what} from stream ${stream} failed`)
          }
        })
      })

    /** Stored events first..last (all at most the head): from the cache where it has them, else from the stream. */
    const readStored = (first: number, last: number): Effect.Effect<ReadonlyArray<BrokerEvent>, LogUnavailable> => {
      const cached: Array<BrokerEvent> = []
      for (let seq = first; seq <= last; seq++) {
        const event = recent.get(seq)
        if (event === undefined) {
          return guarded("read", async () => {
            const events = cached
            let at = seq
            while (at <= last) {
              const hit = recent.get(at)
              if (hit !== undefined) {
                events.push(hit)
                at += 1
                continue
              }
              let end = at
              while (end < last && recent.get(end + 1) === undefined) end += 1
              for (const found of await reader.run(at, end)) events.push(found)
              at = end + 1
            }
            return events
          })
        }
        cached.push(event)
      }
      return Effect.succeed(cached)
    }

    const read = (from: number, to?: number, limit?: number) =>
      Effect.suspend(() => {
        const first = Math.max(1, from)
        const last = Math.min(to ?? order.head, order.head, first + (limit ?? Number.MAX_SAFE_INTEGER) - 1)
        return first <= last ? readStored(first, last) : Effect.succeed([])
      })

    const readSeqs = (seqs: ReadonlyArray<number>) =>
      Effect.suspend(() => {
        const head = order.head
        const wanted = seqs.filter((seq) => Number.isSafeInteger(seq) && seq >= 1 && seq <= head)
        const missing = [...new Set(wanted.filter((seq) => recent.get(seq) === undefined))].sort((a, b) => a - b)
        if (missing.length === 0) return Effect.succeed(wanted.map((seq) => recent.get(seq)!))
        return guarded("read", async () => {
          const found = new Map<number, BrokerEvent>()
          for (let i = 0; i < missing.length; i++) {
            const first = missing[i]!
            while (i + 1 < missing.length && missing[i + 1] === missing[i]! + 1) i++
            for (const event of await reader.run(first, missing[i]!)) found.set(event.seq, event)
          }
          return wanted.map((seq) => recent.get(seq) ?? found.get(seq)!)
        })
      })

    const head = Effect.sync(() => order.head)

    const service: JetStreamLogService = {
      backend: "jetstream",
      stream,
      subject,
      connected: () => connected && !closed,
      position,
      ...(gossip === undefined ? {} : { signsOfLife: gossip.signsOfLife }),
      append,
      appendWith,
      appendIfHead,
      read,
      readSeqs,
      head,
      ...feed.readers(read, head)
    }
    return service
  })

export const JetStreamLogLive = (options: JetStreamLogOptions): Layer.Layer<EventLog, LogUnavailable> =>
  Layer.scoped(EventLog, makeJetStreamLog(options))

/** The message body: the draft and its time; the seq is the message's stream sequence. */
const encode = (at: string, draft: EventDraft): string => {
  if (typeof draft.data !== "object" || draft.data === null) {
    throw new TypeError(`jetstream log: ${draft.type} event data must be an object`)
  }
  return JSON.stringify({ at, ...bodyOf(draft) })
}

/**
 * The stream is not a dense log of broker events (a message that is not one, or a deleted one): the
 * log cannot be trusted past it, so this is never retried.
 */
class Corrupt extends Error {
  constructor(readonly error: LogUnavailable) {
    super(error.message)
  }
}
const isCorrupt = (cause: unknown): cause is Corrupt => cause instanceof Corrupt

/** The follower's consumer delivered `seq` while earlier positions were still missing here. */
class Skipped extends Error {
  constructor(readonly seq: number) {
    super(`the consumer skipped to seq ${seq}`)
  }
}

/** What a retry may cure: no answer in time, no stream leader for the moment, a connection being replaced. */
const isTransient = (cause: unknown): boolean =>
  cause instanceof natsErrors.TimeoutError ||
  cause instanceof AckTimeout ||
  (cause instanceof natsErrors.RequestError && cause.isNoResponders()) ||
  (cause instanceof Error && (cause.name === "JetStreamNotEnabled" || /timeout|no responders|disconnect/i.test(cause.message)))

const decode = (seq: number, text: string, resolved: ResolvedJetStreamOptions): BrokerEvent => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}
  const event = fields.project === undefined
    ? { seq, at: fields.at, type: fields.type, data: fields.data }
    : { seq, at: fields.at, project: fields.project, type: fields.type, data: fields.data }
  if (!isBrokerEvent(event)) {
    throw new Corrupt(
      unavailable(
        `stream ${resolved.stream}: the message at seq ${seq} is not a broker event; only the broker may publish ` +
          `on ${resolved.subject}, or the stream's seqs stop being the log's`
      )
    )
  }
  return event
}

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

const asUnavailable = (cause: unknown, what: string): LogUnavailable => {
  if (isCorrupt(cause)) return cause.error
  if (cause instanceof natsErrors.TimeoutError || cause instanceof AckTimeout) {
    return unavailable(`${what}: no answer from JetStream in time`)
  }
  return unavailable(what, cause)
}

const payloadTooLarge = (body: string, maxPayload: number) =>
  unavailable(
    `an event of ${Buffer.byteLength(body, "utf8")} bytes exceeds the NATS server's max_payload of ${maxPayload} bytes ` +
      `(raise max_payload on the servers or lower --max-body-bytes)`
  )

/**
 * Reads stored events `first..last` from the stream, checking that every position holds the event
 * it should: short runs with direct gets (any replica may answer; a miss is asked again of the
 * leader), long ones with a short-lived ordered consumer.
 */
const makeReader = (
  jsm: JetStreamManager,
  js: JetStreamClient,
  resolved: ResolvedJetStreamOptions,
  allowDirect: boolean
) => {
  const { stream } = resolved
  const gap = (seq: number) =>
    new Corrupt(
      unavailable(
        `stream ${stream} has no message at seq ${seq}, below its last seq: events were deleted, and the ` +
          `broker's log must have every event`
      )
    )

  const getOne = async (seq: number): Promise<BrokerEvent> => {
    // A direct get may be answered by a replica that is a little behind; the leader has the last word.
    const message =
      (allowDirect ? await jsm.direct.getMessage(stream, { seq }) : null) ?? (await jsm.streams.getMessage(stream, { seq }))
    if (message === null || message.seq !== seq) throw gap(seq)
    return decode(seq, message.string(), resolved)
  }

  const viaConsumer = async (first: number, last: number): Promise<Array<BrokerEvent>> => {
    const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: first })
    try {
      const events: Array<BrokerEvent> = []
      let next = first
      while (next <= last) {
        const batch = await consumer.fetch({ max_messages: Math.min(fetchPage, last - next + 1), expires: fetchExpiresMs })
        const before = next
        for await (const message of batch) {
          if (message.seq !== next) throw gap(next)
          events.push(decode(message.seq, message.string(), resolved))
          next += 1
        }
        if (next === before) throw new natsErrors.TimeoutError()
      }
      return events
    } finally {
      void consumer.delete().catch(() => undefined)
    }
  }

  return {
    run: (first: number, last: number): Promise<Array<BrokerEvent>> =>
      last - first + 1 <= maxDirectRun
        ? Promise.all(Array.from({ length: last - first + 1 }, (_, i) => getOne(first + i)))
        : viaConsumer(first, last)
  }
}

export type { NatsConnection }
