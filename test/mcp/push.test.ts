import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { Notice } from "../../src/broker/notices.js"
import type { EventDraft } from "../../src/core/events.js"
import { Projection } from "../../src/core/projection.js"
import { forgetPositions, inboxLine, inboxOf, markRead, newFollowing, type Following } from "../../src/mcp/inbox.js"
import { Pusher, type Push, type PushTarget } from "../../src/mcp/push.js"
import { connected, delivered, fired, message, reset, sent, store } from "../core/given.js"

/**
 * Pushes and the inbox, on a projection fed by events as the broker feeds it: who hears what, what
 * is still news when the push goes out, and how bursts coalesce.
 */

class World {
  private next = 1
  constructor(
    readonly projection: Projection,
    readonly pusher: Pusher
  ) {}
  /** Apply events as the broker does, and hand the pusher the notices the broker would. */
  apply(...drafts: ReadonlyArray<EventDraft>): void {
    for (const event of store(drafts, this.next)) {
      this.next++
      for (const change of this.projection.apply(event)) {
        const notice: Notice | undefined =
          change.kind === "command.pending"
            ? { kind: "command", commandId: change.commandId, target: change.target }
            : change.kind === "message" && event.type === "message.sent"
              ? { kind: "message", channel: change.channel, id: change.id, from: event.data.from, message: event.data.message }
              : change.kind === "signal" && event.type === "signal.fired"
                ? { kind: "signal", name: change.name, by: event.data.by }
                : change.kind === "reset"
                  ? { kind: "reset" }
                  : undefined
        if (notice) this.pusher.hear(notice)
      }
    }
  }
}

const target = (peerId: string, following: Following = newFollowing()) => {
  const pushes: Array<Push> = []
  const state = { connected: true, waiting: false }
  const self: PushTarget & { pushes: Array<Push>; state: typeof state } = {
    peerId,
    connected: () => state.connected,
    following,
    waitingForCommand: () => state.waiting,
    send: (push) => pushes.push(push),
    pushes,
    state
  }
  return self
}

const validMeta = (meta: Record<string, string>) =>
  Object.entries(meta).every(([key, value]) => /^[A-Za-z0-9_]+$/.test(key) && typeof value === "string")

let world: World
let pusher: Pusher
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "Date"] })
  const projection = new Projection()
  pusher = new Pusher(projection, 1_000)
  world = new World(projection, pusher)
})
afterEach(() => {
  vi.useRealTimers()
})

describe("pushes", () => {
  it("tell a peer of a command for its role on the next turn, with valid meta; the command stays pending", () => {
    world.apply(connected("boss", "orchestrator"), connected("w1", "backend"))
    const worker = target("w1")
    pusher.add(worker)
    world.apply(sent("c1", "backend", { from: "boss", action: "start_server", params: { port: 7400 } }))
    expect(worker.pushes).toEqual([])
    vi.advanceTimersByTime(0)
    expect(worker.pushes).toHaveLength(1)
    const [push] = worker.pushes
    expect(push!.meta).toEqual({ kind: "command", command_id: "c1", from: "boss", from_role: "orchestrator" })
    expect(validMeta(push!.meta)).toBe(true)
    expect(push!.content).toBe(
      'Command c1 from orchestrator for backend: start_server {"port":7400}. Take it with wait_for_command, then ack_command.'
    )
    expect(world.projection.commands.get("c1")!.value).toBe("pending")
  })

  it("coalesce news within the window into one push that names every id", () => {
    world.apply(connected("w1", "backend"))
    const worker = target("w1")
    pusher.add(worker)
    world.apply(sent("c0", "backend"))
    vi.advanceTimersByTime(0)
    expect(worker.pushes).toHaveLength(1)
    world.apply(...Array.from({ length: 49 }, (_, i) => sent(`c${i + 1}`, "backend")))
    vi.advanceTimersByTime(999)
    expect(worker.pushes).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(worker.pushes).toHaveLength(2)
    const burst = worker.pushes[1]!
    expect(burst.meta.count).toBe("49")
    expect(burst.meta.command_ids!.split(",")).toHaveLength(49)
    expect(burst.content).toMatch(/^49 commands waiting for backend: c1 \(run\) from boss, .*, and 44 more\./)
    // The inbox has all fifty, whatever the pushes said.
    expect(inboxOf(world.projection, "w1", worker.following).commands.waiting).toBe(50)
  })

  it("drop what is no news any more when the push goes out: a taken command, a session in a wait", () => {
    world.apply(connected("w1", "backend"), connected("w2", "backend"))
    const one = target("w1")
    const two = target("w2")
    pusher.add(one)
    pusher.add(two)
    two.state.waiting = true
    world.apply(sent("c1", "backend"), delivered("c1", "w1"))
    vi.advanceTimersByTime(0)
    expect(one.pushes).toEqual([])
    world.apply(sent("c2", "w2"))
    vi.advanceTimersByTime(0)
    expect(two.pushes).toEqual([])
  })

  it("go to peers by id and role only, and only while registered", () => {
    world.apply(connected("w1", "backend"), connected("f1", "frontend"))
    const backend = target("w1")
    const frontend = target("f1")
    pusher.add(backend)
    pusher.add(frontend)
    world.apply(sent("c1", "w1"))
    vi.advanceTimersByTime(0)
    expect(backend.pushes).toHaveLength(1)
    expect(frontend.pushes).toHaveLength(0)
    frontend.state.connected = false
    pusher.refresh(frontend)
    world.apply(sent("c2", "frontend"))
    vi.advanceTimersByTime(2_000)
    expect(frontend.pushes).toHaveLength(0)
  })

  it("tell followers of messages from others (not their own) and of signals they watch", () => {
    world.apply(connected("w1", "backend"), connected("t1", "tester"))
    const following = newFollowing()
    following.channels.set("builds", 0)
    following.signals.set("deploy", "")
    const worker = target("w1", following)
    pusher.add(worker)
    world.apply(message("builds", { text: "own" }, "w1"))
    vi.advanceTimersByTime(0)
    expect(worker.pushes).toEqual([])
    markRead(following, "builds", 1)
    world.apply(message("builds", { text: "green" }, "t1"))
    vi.advanceTimersByTime(1_000)
    expect(worker.pushes).toHaveLength(1)
    expect(worker.pushes[0]!.meta).toEqual({ kind: "message", channel: "builds", message_id: "2", from: "t1", from_role: "tester" })
    expect(worker.pushes[0]!.content).toBe(
      'Message #2 on "builds" from tester: {"text":"green"}. read_messages("builds", since_id=1) returns it.'
    )
    world.apply(fired("deploy", { build: "abc" }, "t1"))
    vi.advanceTimersByTime(1_000)
    expect(worker.pushes[1]!.meta).toMatchObject({ kind: "signal", signal: "deploy", from: "t1" })
    expect(worker.pushes[1]!.content).toBe('Signal "deploy" by tester with {"build":"abc"} fired; wait_for_signal answers at once.')
    expect(inboxLine(inboxOf(world.projection, "w1", following))).toBe(
      'Inbox: 1 unread on "builds" (read_messages with since_id 1); signal "deploy" fired.'
    )
  })

  it("forget queued news at a reset; cursors start again", () => {
    world.apply(connected("w1", "backend"), message("builds", "a"))
    const following = newFollowing()
    following.channels.set("builds", 1)
    const worker = target("w1", following)
    pusher.add(worker)
    world.apply(sent("c1", "backend"), reset())
    forgetPositions(following)
    vi.advanceTimersByTime(0)
    expect(worker.pushes).toEqual([])
    expect(following.channels.get("builds")).toBe(0)
  })
})
