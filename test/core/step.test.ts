import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { initialTransition, transition, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from "xstate"
import { channelMachine } from "../../src/core/machines/channel.js"
import { commandMachine } from "../../src/core/machines/command.js"
import { peerMachine } from "../../src/core/machines/peer.js"
import { signalMachine } from "../../src/core/machines/signal.js"
import { stepsOf } from "../../src/core/step.js"
import { time } from "./given.js"

/**
 * `stepsOf` (src/core/step.ts) reaches into xstate to step a machine without building an actor per
 * event. These properties pin it to xstate's own pure `initialTransition` / `transition`: over random
 * event sequences, each step lands on the same state value, context and status, with the same
 * actions chosen. An xstate upgrade that changes the internals it relies on fails here.
 */

/** What is compared: our machines' snapshots are flat (a string value, a context, a status). */
interface Flat {
  readonly value: unknown
  readonly context: unknown
  readonly status: string
}
type Step = readonly [Flat, ReadonlyArray<{ readonly type: string }>]

type Stamped<E> = E & { readonly seq: number; readonly at: string }

/** Events without position; the sequence gets seqs from `firstSeq` and a time one second apart. */
const stamped = <E extends object>(events: ReadonlyArray<E>, firstSeq: number): Array<Stamped<E>> =>
  events.map((event, i) => ({ ...event, seq: firstSeq + i, at: time((firstSeq + i) * 1_000) }))

const actionTypes = (actions: ReadonlyArray<{ readonly type: string }>) => actions.map((action) => action.type)

/** Steps `events` both ways from `input`, comparing after the initial step and after each event. */
const agree = <M extends AnyStateMachine>(
  machine: M,
  sampleInput: InputFrom<M>,
  input: InputFrom<M>,
  events: ReadonlyArray<EventFromLogic<M>>
): void => {
  const steps = stepsOf(machine, sampleInput)
  const same = ([ours, ourActions]: Step, [theirs, theirActions]: Step, after: string) => {
    expect(ours.value, after).toEqual(theirs.value)
    expect(ours.context, after).toEqual(theirs.context)
    expect(ours.status, after).toBe(theirs.status)
    expect(actionTypes(ourActions), after).toEqual(actionTypes(theirActions))
  }
  let ours = steps.initial(input)
  let theirs = initialTransition(machine as AnyStateMachine, input)
  same(ours as unknown as Step, theirs, "the initial step")
  events.forEach((event, i) => {
    ours = steps.next(ours[0], event)
    theirs = transition(machine as AnyStateMachine, theirs[0] as SnapshotFrom<AnyStateMachine>, event)
    same(ours as unknown as Step, theirs, `event ${i} (${event.type})`)
  })
}

const id = fc.constantFrom("p1", "p2", "p3")
const by = fc.option(id, { nil: null })
const json = fc.jsonValue({ maxDepth: 2 })
const runs = { numRuns: 200 }

describe("machine steps without actors agree with xstate's pure transition", () => {
  it("peer", () => {
    const connected = fc.record({
      peerId: id,
      role: fc.constantFrom("worker", "reviewer", "p1"),
      capabilities: fc.array(fc.constantFrom("build", "test"), { maxLength: 2 }),
      name: fc.option(fc.string({ maxLength: 5 }), { nil: null })
    })
    const event = fc.oneof(
      connected.map((data) => ({ type: "peer.connected" as const, data })),
      id.map((peerId) => ({ type: "peer.heartbeat" as const, data: { peerId } })),
      id.map((peerId) => ({ type: "peer.went_stale" as const, data: { peerId } })),
      fc
        .record({ peerId: id, reason: fc.constantFrom("timeout" as const, "disconnected" as const, "session_closed" as const) })
        .map((data) => ({ type: "peer.went_offline" as const, data }))
    )
    fc.assert(
      fc.property(connected, fc.array(event, { maxLength: 30 }), (data, events) =>
        agree(peerMachine, { peerId: "p", role: "r", capabilities: [], name: null, at: "" }, { ...data, at: time(0) }, stamped(events, 2))
      ),
      runs
    )
  })

  it("command", () => {
    const commandId = "c1"
    const event = fc.oneof(
      fc
        .record({ peerId: id, leaseMs: fc.integer({ min: 1, max: 600_000 }) })
        .map((data) => ({ type: "command.delivered" as const, data: { commandId, ...data } })),
      fc
        .record({ ok: fc.boolean(), result: json, by })
        .map((data) => ({ type: "command.acked" as const, data: { commandId, ...data } })),
      fc.constant({ type: "command.lease_expired" as const, data: { commandId } }),
      fc.constant({ type: "command.expired" as const, data: { commandId } }),
      by.map((by) => ({ type: "command.cancelled" as const, data: { commandId, by } })),
      fc
        .record({ reason: fc.constantFrom("lease_expired" as const, "holder_offline" as const), deliveries: fc.integer({ min: 1, max: 9 }) })
        .map((data) => ({ type: "command.dead" as const, data: { commandId, ...data } })),
      by.map((by) => ({ type: "command.redelivered" as const, data: { commandId, by } })),
      by.map((by) => ({ type: "command.approved" as const, data: { commandId, by } })),
      by.map((by) => ({ type: "command.rejected" as const, data: { commandId, by } }))
    )
    // `holder.gone` is no log event (the projection derives it from its holder going offline); it
    // carries the position of that `peer.went_offline`.
    // `sent.held` neither: the projection steps a held send with it right after `command.sent`.
    const step = fc.oneof(
      { arbitrary: event, weight: 5 },
      { arbitrary: fc.constant({ type: "holder.gone" as const }), weight: 1 },
      { arbitrary: fc.constant({ type: "sent.held" as const }), weight: 1 }
    )
    const sent = fc.record({
      from: id,
      target: fc.constantFrom("worker", "p1"),
      action: fc.constantFrom("run", "build"),
      params: json,
      ttlMs: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: null })
    })
    fc.assert(
      fc.property(sent, fc.array(step, { maxLength: 20 }), (data, steps) =>
        agree(
          commandMachine,
          { commandId: "c", from: "f", target: "t", action: "a", params: null, ttlMs: null, at: "", seq: 0 },
          { commandId, ...data, at: time(1_000), seq: 1 },
          steps.map((s, i) =>
            s.type === "sent.held" ? s : s.type === "holder.gone" ? { ...s, seq: 2 + i } : { ...s, seq: 2 + i, at: time((2 + i) * 1_000) }
          )
        )
      ),
      runs
    )
  })

  it("channel", () => {
    const channel = "log"
    // A trim's bound ranges over the seqs the sequence can reach, so some trims drop messages and some nothing.
    const event = fc.oneof(
      fc
        .record({ from: by, message: json, key: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }) })
        .map(({ key, ...data }) => ({ type: "message.sent" as const, data: { channel, ...data, ...(key === undefined ? {} : { idempotencyKey: key }) } })),
      fc
        .record({ beforeSeq: fc.integer({ min: 0, max: 45 }), reason: fc.constantFrom("max_messages" as const, "max_age" as const) })
        .map((data) => ({ type: "channel.trimmed" as const, data: { channel, ...data } }))
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) =>
        agree(channelMachine, { name: "c" }, { name: channel }, stamped(events, 1))
      ),
      runs
    )
  })

  /** Counts the calls of `machine.transition` (xstate's macrostep) while `run` runs. */
  const transitionsDuring = (machine: AnyStateMachine, run: () => void): number => {
    const original = machine.transition
    let transitions = 0
    Object.assign(machine, {
      transition: (...args: Parameters<typeof original>) => {
        transitions++
        return original.apply(machine, args)
      }
    })
    try {
      run()
    } finally {
      Reflect.deleteProperty(machine, "transition")
    }
    return transitions
  }

  it("a channel's messages and trims and a command's whole life are stepped without xstate's transition; a step with an entry action is not", () => {
    const channel = stepsOf(channelMachine, { name: "c" })
    const messages = transitionsDuring(channelMachine, () => {
      let [snapshot] = channel.initial({ name: "log" })
      for (const event of stamped([1, 2, 3].map((n) => ({ type: "message.sent" as const, data: { channel: "log", from: null, message: n } })), 1)) {
        ;[snapshot] = channel.next(snapshot, event)
      }
      ;[snapshot] = channel.next(snapshot, stamped([{ type: "channel.trimmed" as const, data: { channel: "log", beforeSeq: 3, reason: "max_messages" as const } }], 4)[0]!)
      expect(snapshot.context).toMatchObject({ count: 3, trimmed: 2, seqs: [3] })
    })
    expect(messages).toBe(0)

    const command = stepsOf(commandMachine, { commandId: "c", from: "f", target: "t", action: "a", params: null, ttlMs: null, at: "", seq: 0 })
    const life = transitionsDuring(commandMachine, () => {
      let [snapshot] = command.initial({ commandId: "c1", from: "f", target: "w", action: "run", params: null, ttlMs: null, at: time(1_000), seq: 1 })
      const events = stamped(
        [
          { type: "command.delivered" as const, data: { commandId: "c1", peerId: "w", leaseMs: 30_000 } },
          { type: "command.lease_expired" as const, data: { commandId: "c1" } },
          { type: "command.delivered" as const, data: { commandId: "c1", peerId: "w", leaseMs: 30_000 } },
          { type: "command.acked" as const, data: { commandId: "c1", ok: true, result: 42, by: "w" } },
          // Ignored: a settled command takes no second ack.
          { type: "command.acked" as const, data: { commandId: "c1", ok: false, result: null, by: "w" } }
        ],
        2
      )
      for (const event of events) [snapshot] = command.next(snapshot, event)
      expect(snapshot).toMatchObject({ value: "acked", status: "done", context: { result: 42, deliveries: 2, history: [1, 2, 3, 4, 5] } })
    })
    expect(life).toBe(0)

    const peer = stepsOf(peerMachine, { peerId: "p", role: "r", capabilities: [], name: null, at: "" })
    let actions: ReadonlyArray<{ readonly type: string }> = []
    const offline = transitionsDuring(peerMachine, () => {
      const [snapshot] = peer.initial({ peerId: "p1", role: "worker", capabilities: [], name: null, at: time(0) })
      ;[, actions] = peer.next(snapshot, stamped([{ type: "peer.went_offline" as const, data: { peerId: "p1", reason: "timeout" as const } }], 2)[0]!)
    })
    expect(offline).toBe(1)
    expect(actionTypes(actions)).toEqual(["releaseHeldCommands"])
  })

  it("signal", () => {
    const name = "ready"
    const event = fc.oneof(
      fc.record({ data: json, by }).map((data) => ({ type: "signal.fired" as const, data: { name, ...data } })),
      fc.constant({ type: "signal.cleared" as const, data: { name } })
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => agree(signalMachine, { name: "s" }, { name }, stamped(events, 1))),
      runs
    )
  })
})
