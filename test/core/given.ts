import { expect } from "vitest"
import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import { heldCount, heldSeqs, type ChannelSnapshot } from "../../src/core/machines/channel.js"
import { Projection, type Change } from "../../src/core/projection.js"
import {
  channelView,
  commandView,
  peerView,
  signalView,
  stateView,
  type ChannelView,
  type CommandView,
  type PeerView,
  type SignalView,
  type StateView
} from "../../src/core/views.js"

/**
 * Given/when/then specifications of the projection, after Emmett's
 * `given(events).when(command).then(events)`: the "given" events build the state, the "when" event is
 * the one under test, and the "then" looks at the views and at the Change list that event returned.
 *
 *   given(connected("p1"), sent("c1", "worker"))
 *     .when(delivered("c1", "p1"))
 *     .then(({ command, changes }) => { ... })
 *
 * Stored events get dense seqs from 1. Each event is one second after the previous one (seq n at
 * `time(n * 1000)` unless told otherwise); `at(ms, draft)` pins an event to `time(ms)` and the events
 * after it continue one second later.
 */

/** The epoch of every specification: `time(0)`. */
export const t0 = Date.parse("2025-01-01T00:00:00.000Z")
/** The ISO timestamp `ms` after `t0`. */
export const time = (ms: number): string => new Date(t0 + ms).toISOString()
/** The default gap between consecutive events. */
export const tick = 1_000

export interface Timed {
  readonly draft: EventDraft
  readonly ms: number
}
export type Step = EventDraft | Timed

/** Pins a draft to `time(ms)`. */
export const at = (ms: number, draft: EventDraft): Timed => ({ draft, ms })

const isTimed = (step: Step): step is Timed => "draft" in step

/** Stores drafts as the log would: dense seqs from `firstSeq`, timestamps as described above. */
export const store = (steps: ReadonlyArray<Step>, firstSeq = 1, afterMs = (firstSeq - 1) * tick): Array<BrokerEvent> => {
  let ms = afterMs
  return steps.map((step, i) => {
    ms = isTimed(step) ? step.ms : ms + tick
    const draft = isTimed(step) ? step.draft : step
    return { ...draft, seq: firstSeq + i, at: time(ms) } as BrokerEvent
  })
}

// ---- drafts ------------------------------------------------------------------------------------

export const connected = (
  peerId: string,
  role = "worker",
  capabilities: ReadonlyArray<string> = [],
  name: string | null = null
): EventDraft => ({ type: "peer.connected", data: { peerId, role, capabilities, name } })
export const heartbeat = (peerId: string): EventDraft => ({ type: "peer.heartbeat", data: { peerId } })
export const wentStale = (peerId: string): EventDraft => ({ type: "peer.went_stale", data: { peerId } })
export const wentOffline = (
  peerId: string,
  reason: "timeout" | "disconnected" | "session_closed" = "disconnected"
): EventDraft => ({ type: "peer.went_offline", data: { peerId, reason } })

export const sent = (
  commandId: string,
  target: string,
  options: { readonly from?: string; readonly action?: string; readonly params?: unknown; readonly ttlMs?: number | null } = {}
): EventDraft => ({
  type: "command.sent",
  data: {
    commandId,
    from: options.from ?? "boss",
    target,
    action: options.action ?? "run",
    params: options.params ?? { commandId },
    ttlMs: options.ttlMs ?? null
  }
})
export const delivered = (commandId: string, peerId: string, leaseMs = 60_000): EventDraft => ({
  type: "command.delivered",
  data: { commandId, peerId, leaseMs }
})
export const acked = (commandId: string, ok = true, result: unknown = { ok }, by: string | null = null): EventDraft => ({
  type: "command.acked",
  data: { commandId, ok, result, by }
})
export const leaseExpired = (commandId: string): EventDraft => ({ type: "command.lease_expired", data: { commandId } })
export const expired = (commandId: string): EventDraft => ({ type: "command.expired", data: { commandId } })
export const cancelled = (commandId: string, by: string | null = null): EventDraft => ({
  type: "command.cancelled",
  data: { commandId, by }
})
export const dead = (
  commandId: string,
  deliveries: number,
  reason: "lease_expired" | "holder_offline" = "lease_expired"
): EventDraft => ({ type: "command.dead", data: { commandId, reason, deliveries } })
export const redelivered = (commandId: string, by: string | null = null): EventDraft => ({
  type: "command.redelivered",
  data: { commandId, by }
})

export const message = (channel: string, body: unknown = null, from: string | null = null): EventDraft => ({
  type: "message.sent",
  data: { channel, from, message: body }
})
export const trimmed = (
  channel: string,
  beforeSeq: number,
  reason: "max_messages" | "max_age" = "max_messages"
): EventDraft => ({ type: "channel.trimmed", data: { channel, beforeSeq, reason } })
export const fired = (name: string, data: unknown = null, by: string | null = null): EventDraft => ({
  type: "signal.fired",
  data: { name, data, by }
})
export const cleared = (name: string): EventDraft => ({ type: "signal.cleared", data: { name } })
export const reset = (by: string | null = null): EventDraft => ({ type: "broker.reset", data: { by } })
export const minted = (
  name: string,
  role: "viewer" | "agent" | "admin" = "agent",
  hash = `hash-of-${name}`,
  boundRole?: string
): EventDraft => ({
  type: "token.minted",
  data: { name, project: "default", role, hash, ...(boundRole !== undefined ? { boundRole } : {}) }
})
export const revoked = (name: string): EventDraft => ({ type: "token.revoked", data: { name } })

// ---- the specification -------------------------------------------------------------------------

/** What a `then` gets to look at. The view lookups fail the test when the entity does not exist. */
export interface Outcome {
  readonly projection: Projection
  /** What the `when` event returned. */
  readonly changes: ReadonlyArray<Change>
  /** The `when` event as stored. */
  readonly event: BrokerEvent
  /** Every stored event, the `when` last. */
  readonly events: ReadonlyArray<BrokerEvent>
  /** The state before the `when` event. */
  readonly before: StateView
  readonly peer: (id: string) => PeerView
  readonly command: (id: string) => CommandView
  readonly channel: (name: string) => ChannelView
  readonly signal: (name: string) => SignalView
  /** The seqs of the `message.sent` of the messages the channel holds, oldest first. */
  readonly seqIndex: (name: string) => Array<number>
  /** Ids of the pending commands a peer may take, oldest first. */
  readonly pendingFor: (peerId: string, role: string) => Array<string>
  readonly oldestPendingFor: (peerId: string, role: string) => string | undefined
  /** Ids of the commands a peer holds, sorted. */
  readonly heldBy: (peerId: string) => Array<string>
}

export interface Scenario {
  readonly when: (step: Step) => Specification
}
export interface Specification {
  /** Runs the `when` and hands the outcome to the expectation. */
  readonly then: (expectation: (outcome: Outcome) => void) => void
  /** The `when` changed nothing: no Change, and the state view is the same apart from seq and at. */
  readonly thenIgnored: () => void
}

const defined = <A>(value: A | undefined, what: string): A => {
  if (value === undefined) expect.fail(`${what} does not exist`)
  return value as A
}

export const seqIndexOf = (snapshot: ChannelSnapshot): Array<number> => heldSeqs(snapshot.context)
/** The times (epoch ms) of the messages the channel holds, oldest first. */
export const heldAtsOf = (snapshot: ChannelSnapshot): Array<number> => snapshot.context.ats.slice(0, heldCount(snapshot.context))

/** A view of everything the projection knows, with room for all commands. */
export const fullView = (projection: Projection): StateView => stateView(projection, Number.MAX_SAFE_INTEGER)

const withoutPosition = ({ seq: _seq, at: _at, ...rest }: StateView) => rest

const outcomeOf = (projection: Projection, changes: ReadonlyArray<Change>, events: ReadonlyArray<BrokerEvent>, before: StateView): Outcome => ({
  projection,
  changes,
  event: events[events.length - 1]!,
  events,
  before,
  peer: (id) => peerView(defined(projection.peers.get(id), `peer ${id}`)),
  command: (id) => commandView(defined(projection.commands.get(id), `command ${id}`)),
  channel: (name) => channelView(defined(projection.channels.get(name), `channel ${name}`)),
  signal: (name) => signalView(name, projection.signals.get(name)),
  seqIndex: (name) => seqIndexOf(defined(projection.channels.get(name), `channel ${name}`)),
  pendingFor: (peerId, role) => projection.pendingFor(peerId, role).map((s) => s.context.id),
  oldestPendingFor: (peerId, role) => projection.oldestPendingFor(peerId, role)?.context.id,
  heldBy: (peerId) =>
    projection
      .heldBy(peerId)
      .map((s) => s.context.id)
      .sort()
})

export const given = (...steps: ReadonlyArray<Step>): Scenario => ({
  when: (step) => {
    const run = (): Outcome => {
      const events = store([...steps, step])
      const projection = new Projection()
      for (const event of events.slice(0, -1)) projection.apply(event)
      const before = fullView(projection)
      const changes = projection.apply(events[events.length - 1]!)
      expect(projection.seq).toBe(events.length)
      return outcomeOf(projection, changes, events, before)
    }
    return {
      then: (expectation) => expectation(run()),
      thenIgnored: () => {
        const { projection, changes, before } = run()
        expect(changes).toEqual([])
        expect(withoutPosition(fullView(projection))).toEqual(withoutPosition(before))
      }
    }
  }
})
