import type { BrokerEvent, EventDraft } from "../../../src/core/events.js"
import { seeded } from "../../support/random.js"

/**
 * A long, plausible broker log for the dashboard's tests and measurements: a handful of agent
 * sessions that heartbeat, chat on channels, take and ack commands, fire signals, sometimes go stale
 * or offline and come back. Deterministic for a seed, and O(1) per event so 100k events take
 * milliseconds (the core's generator checks every draft against a projection, which is slower).
 */
export const generateSessionLog = (options: {
  readonly count: number
  readonly seed?: number
  readonly start?: string
  /** 0-based index of a `broker.reset`. */
  readonly resetAt?: number
  /** Share of events a real log also holds that change nothing: late acks, losing claims, ghosts. */
  readonly noise?: number
}) => {
  const { next: random, int, pick: pickOrNone } = seeded(options.seed ?? 1)
  /** Its lists (peers, the online ones, names) are never empty. */
  const pick = <A>(items: ReadonlyArray<A>): A => pickOrNone(items)!

  const roles = ["frontend", "backend", "tests", "reviewer"] as const
  const peers = Array.from({ length: 8 }, (_, i) => ({
    id: `peer-${(i * 7919 + 1000).toString(36)}`,
    role: roles[i % roles.length]!,
    online: false
  }))
  const actions = ["run_tests", "review_diff", "rebuild", "deploy_preview", "lint", "summarize"]
  const channels = ["general", "builds", "reviews", "incidents"]
  const signals = ["build-green", "schema-frozen", "release-ready", "tests-done"]
  const pending: Array<{ id: string; target: string }> = []
  const held: Array<{ id: string; peer: string }> = []
  let nextCommand = 1
  let ms = Date.parse(options.start ?? "2025-06-02T09:00:00.000Z")
  const events: Array<BrokerEvent> = []
  const take = <A>(list: Array<A>, i: number): A => {
    const item = list[i]!
    list[i] = list[list.length - 1]!
    list.pop()
    return item
  }

  const noise = (): EventDraft => {
    const settled = `cmd-${Math.max(1, int(nextCommand)).toString(36).padStart(6, "0")}`
    switch (int(5)) {
      case 0:
        return { type: "command.acked", data: { commandId: settled, ok: true, result: "late", by: pick(peers).id } }
      case 1:
        return { type: "command.delivered", data: { commandId: settled, peerId: pick(peers).id, leaseMs: 1_000 } }
      case 2:
        return { type: "peer.heartbeat", data: { peerId: "ghost" } }
      case 3:
        return { type: "command.sent", data: { commandId: settled, from: "human", target: "backend", action: "dup", params: null, ttlMs: null } }
      default:
        return { type: "command.lease_expired", data: { commandId: "cmd-none" } }
    }
  }

  const draft = (): EventDraft => {
    if (options.noise !== undefined && random() < options.noise) return noise()
    const offline = peers.filter((p) => !p.online)
    if (offline.length === peers.length || (offline.length > 0 && random() < 0.01)) {
      const p = pick(offline)
      p.online = true
      return { type: "peer.connected", data: { peerId: p.id, role: p.role, capabilities: p.role === "tests" ? ["vitest", "playwright"] : ["git", "edit"], name: null } }
    }
    const online = peers.filter((p) => p.online)
    const r = random()
    if (r < 0.25) return { type: "peer.heartbeat", data: { peerId: pick(online).id } }
    if (r < 0.43) {
      const p = pick(online)
      return { type: "message.sent", data: { channel: pick(channels), from: p.id, message: { text: `${p.role} update ${events.length}`, n: events.length } } }
    }
    if (r < 0.56) {
      const id = `cmd-${(nextCommand++).toString(36).padStart(6, "0")}`
      const target = random() < 0.7 ? pick(roles) : pick(peers).id
      pending.push({ id, target })
      return { type: "command.sent", data: { commandId: id, from: random() < 0.5 ? "human" : pick(online).id, target, action: pick(actions), params: { branch: `feature-${int(50)}` }, ttlMs: random() < 0.2 ? 600_000 : null } }
    }
    if (r < 0.68 && pending.length > 0) {
      const i = int(pending.length)
      const command = pending[i]!
      const peer = online.find((p) => p.id === command.target || p.role === command.target)
      if (peer) {
        take(pending, i)
        held.push({ id: command.id, peer: peer.id })
        return { type: "command.delivered", data: { commandId: command.id, peerId: peer.id, leaseMs: 60_000 } }
      }
    }
    if (r < 0.8 && held.length > 0) {
      const { id, peer } = take(held, int(held.length))
      const ok = random() < 0.85
      return { type: "command.acked", data: { commandId: id, ok, result: ok ? { summary: "done", files: int(12) } : { error: "tests failed" }, by: peer } }
    }
    if (r < 0.81 && held.length > 0) {
      const { id } = take(held, int(held.length))
      pending.push({ id, target: "backend" })
      return { type: "command.lease_expired", data: { commandId: id } }
    }
    if (r < 0.82 && pending.length > 0) {
      const { id } = take(pending, int(pending.length))
      return { type: random() < 0.5 ? "command.cancelled" : "command.expired", data: { commandId: id, by: "human" } } as EventDraft
    }
    if (r < 0.88) return { type: "signal.fired", data: { name: pick(signals), data: { at: events.length }, by: pick(online).id } }
    if (r < 0.89) return { type: "signal.cleared", data: { name: pick(signals) } }
    if (r < 0.9 && online.length > 1) {
      const p = pick(online)
      p.online = false
      // Its held commands go back to pending in the projection; mirror that here.
      for (let i = held.length - 1; i >= 0; i--) if (held[i]!.peer === p.id) pending.push({ id: take(held, i).id, target: p.role })
      return random() < 0.5
        ? { type: "peer.went_offline", data: { peerId: p.id, reason: "timeout" } }
        : { type: "peer.went_offline", data: { peerId: p.id, reason: "disconnected" } }
    }
    return { type: "peer.heartbeat", data: { peerId: pick(online).id } }
  }

  for (let i = 0; i < options.count; i++) {
    ms += 50 + int(2_000)
    let next: EventDraft
    if (i === options.resetAt) {
      next = { type: "broker.reset", data: { by: "human" } }
      for (const p of peers) p.online = false
      pending.length = 0
      held.length = 0
    } else next = draft()
    events.push({ ...next, seq: i + 1, at: new Date(ms).toISOString() } as BrokerEvent)
  }
  return events
}

export const toNdjson = (events: ReadonlyArray<BrokerEvent>): string => events.map((e) => `${JSON.stringify(e)}\n`).join("")
