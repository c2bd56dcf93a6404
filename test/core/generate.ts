import type { BrokerEvent, EventDraft } from "../../src/core/events.js"
import { commandStatus } from "../../src/core/machines/command.js"
import { peerStatus } from "../../src/core/machines/peer.js"
import { Projection } from "../../src/core/projection.js"
import {
  acked,
  cancelled,
  cleared,
  connected,
  dead,
  delivered,
  expired,
  fired,
  heartbeat,
  leaseExpired,
  message,
  minted,
  redelivered,
  reset,
  revoked,
  sent,
  time,
  trimmed,
  wentOffline,
  wentStale
} from "./given.js"
import { seeded } from "../support/random.js"

export const peerIds = ["p0", "p1", "p2", "p3", "p4", "p5"] as const
export const roles = ["r0", "r1", "r2"] as const
const channels = ["general", "builds", "chat"] as const
const signals = ["ready", "done", "go"] as const
const tokenNames = ["t0", "t1", "t2"] as const

/**
 * A deterministic log of `count` events that looks like a broker's: mostly valid drafts chosen
 * against the state so far (claims of pending commands by online peers, acks of delivered ones …),
 * salted with the invalid ones a real log also holds (losing claims, late acks, duplicates, events
 * for unknown peers), with one `broker.reset` at `resetAt` (a 0-based index) if given.
 */
export const generateLog = (options: {
  readonly seed: number
  readonly count: number
  readonly resetAt?: number
}): Array<BrokerEvent> => {
  const rng = seeded(options.seed)
  const projection = new Projection()
  const events: Array<BrokerEvent> = []
  let ms = 0
  let nextCommand = 1

  const commandsIn = (status: string) =>
    [...projection.commands.values()].filter((s) => commandStatus(s) === status).map((s) => s.context.id)
  const peersIn = (status: string) =>
    [...projection.peers.values()].filter((s) => peerStatus(s) === status).map((s) => s.context.id)
  const anyCommand = () => rng.pick([...projection.commands.keys()]) ?? "c-none"
  const anyPeer = () => rng.pick(peerIds)!

  const choose = (): EventDraft => {
    const r = rng.int(100)
    if (r < 8) return connected(anyPeer(), rng.pick(roles)!, rng.next() < 0.5 ? ["git"] : ["git", "test"], rng.next() < 0.3 ? null : "n")
    if (r < 16) return heartbeat(rng.pick(peersIn("online").concat(peersIn("stale"), peersIn("offline"))) ?? anyPeer())
    if (r < 20) return wentStale(rng.pick(peersIn("online")) ?? anyPeer())
    if (r < 24) return wentOffline(rng.pick(peersIn("online").concat(peersIn("stale"))) ?? anyPeer(), "timeout")
    if (r < 38) {
      const target = rng.next() < 0.6 ? rng.pick(roles)! : anyPeer()
      const ttlMs = rng.next() < 0.3 ? 1_000 + rng.int(60_000) : null
      const draft = sent(`c${nextCommand++}`, target, { params: { n: rng.int(1000) }, ttlMs })
      // Every seventh send is held by the approval gate (without drawing, so the seeds' logs stay as they were otherwise).
      return nextCommand % 7 === 0 ? { ...draft, data: { ...(draft.data as object), held: nextCommand % 14 === 0 ? "loop_guard" : "approval" } } as EventDraft : draft
    }
    if (r < 52) {
      // Mostly a claim of a pending command by an online peer; sometimes one that must lose.
      const command = rng.next() < 0.8 ? (rng.pick(commandsIn("pending")) ?? anyCommand()) : anyCommand()
      const peer = rng.next() < 0.85 ? (rng.pick(peersIn("online")) ?? anyPeer()) : anyPeer()
      return delivered(command, peer, 10_000 + rng.int(50_000))
    }
    if (r < 60) {
      const command = rng.next() < 0.8 ? (rng.pick(commandsIn("delivered")) ?? anyCommand()) : anyCommand()
      return acked(command, rng.next() < 0.75, { r: rng.int(100) }, rng.pick(peerIds) ?? null)
    }
    if (r < 65) {
      const command = rng.next() < 0.85 ? (rng.pick(commandsIn("delivered")) ?? anyCommand()) : anyCommand()
      // Now and then the lapse is its last: a dead letter.
      return rng.next() < 0.25 ? dead(command, 1 + rng.int(5), rng.next() < 0.5 ? "lease_expired" : "holder_offline") : leaseExpired(command)
    }
    if (r < 68) return expired(anyCommand())
    if (r < 71) return cancelled(anyCommand(), rng.next() < 0.5 ? "boss" : null)
    if (r < 83) return message(rng.pick(channels)!, { i: events.length }, rng.next() < 0.5 ? anyPeer() : null)
    if (r < 89) return fired(rng.pick(signals)!, { i: events.length }, rng.next() < 0.5 ? anyPeer() : null)
    if (r < 91) return cleared(rng.pick(signals)!)
    if (r < 93) {
      // A duplicate send of an id already taken.
      const existing = anyCommand()
      return sent(existing, rng.pick(roles)!)
    }
    if (r < 94) {
      // A person redelivers a dead or expired command (sometimes one that cannot be; failed ones are left
      // failed, so the log keeps some).
      const ended = commandsIn("dead").concat(commandsIn("expired"))
      return redelivered(rng.next() < 0.85 ? (rng.pick(ended) ?? anyCommand()) : anyCommand(), rng.next() < 0.5 ? "alice" : null)
    }
    if (r < 96) {
      // A person approves (r = 94) or rejects (r = 95) the oldest held command; with none held, as
      // before: a ghost's heartbeat, or a ghost's claim.
      const held = commandsIn("held")[0]
      if (held !== undefined) return { type: r < 95 ? "command.approved" : "command.rejected", data: { commandId: held, by: null } }
      return r < 95 ? heartbeat("ghost") : delivered(anyCommand(), "ghost")
    }
    if (r < 98) {
      // A retention trim: mostly up to one of the held messages (or past them all), sometimes one
      // that finds nothing left to drop, or a channel that does not exist.
      const channel = rng.pick(channels)!
      const held = projection.channels.get(channel)?.context
      const seqs = held ? held.seqs.slice(0, held.count - held.trimmed) : []
      const beforeSeq = rng.next() < 0.8 && seqs.length > 0 ? (rng.pick(seqs)! + rng.int(2)) : 1 + rng.int(events.length + 1)
      return trimmed(channel, beforeSeq, rng.next() < 0.5 ? "max_messages" : "max_age")
    }
    // Tokens: mints (some of a live name, which lose) and revocations (some of no live token).
    const token = rng.pick(tokenNames)!
    if (rng.next() < 0.5) return minted(token, rng.pick(["viewer", "agent", "admin"] as const)!, `h-${events.length}`, rng.next() < 0.3 ? "r0" : undefined)
    return revoked(token)
  }

  for (let i = 0; i < options.count; i++) {
    const draft = i === options.resetAt ? reset("admin") : choose()
    ms += rng.int(5_000)
    const event = { ...draft, seq: i + 1, at: time(ms) } as BrokerEvent
    projection.apply(event)
    events.push(event)
  }
  return events
}
