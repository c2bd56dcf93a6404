import { peerStatus, type PeerSnapshot } from "../core/machines/peer.js"
import type { PeerView } from "../core/views.js"

/**
 * Signs of life, kept out of the log. "Still here" is not a fact anyone asks about later, so a
 * heartbeat, a wait or a call of an online peer only updates its last-seen time here; the log
 * records transitions (connected, stale, offline, back online), which the sweeper decides from the
 * time kept here. An idle session then costs the log nothing.
 *
 * On a log that other broker nodes append to, their sweepers cannot see this memory. Where the log
 * has an ephemeral channel beside it (`gossip`, JetStream's core NATS: EventLogService.signsOfLife),
 * the signs of life noted here since the last round are told to the other nodes (`fresh`) and
 * theirs are merged in here (`heard`): the log still records only transitions. A shared log
 * without one records a sign of life in the log, at most every `recordEveryMs`, before the peer
 * could look stale to the others.
 */
export class Liveness {
  private readonly seen = new Map<string, number>()
  /** Peers noted alive here since the last `fresh()`: what this node has to tell the others. */
  private readonly unsent = new Set<string>()

  constructor(
    /** Other broker nodes share the log (JetStream). */
    private readonly shared: boolean,
    /** How old a recorded sign of life may grow on a shared log without gossip before another is recorded. */
    private readonly recordEveryMs: number,
    /** The nodes of the shared log gossip signs of life to one another (so nothing is recorded for them). */
    private readonly gossip = false
  ) {}

  /** The latest sign of life: here, or the last one the log recorded, whichever is newer. */
  lastSeen(peer: PeerSnapshot): number {
    return Math.max(this.seen.get(peer.context.id) ?? 0, Date.parse(peer.context.lastSeenAt))
  }

  /** Note a sign of life at `now`; true when it must also be recorded as a `peer.heartbeat` event. */
  note(peer: PeerSnapshot, now: number): boolean {
    this.seen.set(peer.context.id, now)
    if (this.gossip) this.unsent.add(peer.context.id)
    // Back online after stale or offline is a transition: a fact for the log.
    if (peerStatus(peer) !== "online") return true
    return this.shared && !this.gossip && now - Date.parse(peer.context.lastSeenAt) >= this.recordEveryMs
  }

  /**
   * The peers noted alive here since the last call, each with how long ago (`now` − last seen here):
   * an age, not a time, so that another node's clock need not agree with this one's.
   */
  fresh(now: number): Array<readonly [peerId: string, ageMs: number]> {
    const fresh: Array<readonly [string, number]> = []
    for (const peerId of this.unsent) {
      const seen = this.seen.get(peerId)
      if (seen !== undefined) fresh.push([peerId, Math.max(0, now - seen)])
    }
    this.unsent.clear()
    return fresh
  }

  /**
   * Another node saw `peerId` `ageMs` before its gossip arrived here at `receivedAt`. Only ever moves
   * last-seen forward, and is not told on (each node tells what it saw itself: no echoes).
   */
  heard(peerId: string, ageMs: number, receivedAt: number): void {
    const at = receivedAt - Math.max(0, ageMs)
    if (at > (this.seen.get(peerId) ?? 0)) this.seen.set(peerId, at)
  }

  /**
   * At start, the log knows only when each peer was last recorded, which may be long ago for a
   * peer that was alive until the restart: every present peer gets a fresh window from `now`. The
   * same after a cut-off from the other nodes' gossip, which may have missed their signs of life.
   */
  seed(peers: Iterable<PeerSnapshot>, now: number): void {
    for (const peer of peers) {
      if (peerStatus(peer) === "offline") continue
      const id = peer.context.id
      if (now > (this.seen.get(id) ?? 0)) this.seen.set(id, now)
    }
  }

  forgetAll(): void {
    this.seen.clear()
    this.unsent.clear()
  }

  /** A peer as clients see it, with the latest sign of life. */
  view(peer: PeerSnapshot, view: PeerView): PeerView {
    const seen = this.seen.get(peer.context.id)
    return seen === undefined || seen <= Date.parse(view.lastSeenAt) ? view : { ...view, lastSeenAt: new Date(seen).toISOString() }
  }
}

/** When a sign of life on a shared log without gossip is recorded: before the peer could look stale to a sweep. */
export const recordEveryMs = (staleAfterMs: number, sweepIntervalMs: number): number =>
  Math.max(1, Math.min(staleAfterMs / 2, staleAfterMs - 2 * sweepIntervalMs))

/**
 * How often a node gossips the signs of life it noted (on a shared log with gossip): well within the
 * window in which a recorded heartbeat would have been due, and at least every 5 s.
 */
export const gossipEveryMs = (staleAfterMs: number, sweepIntervalMs: number): number =>
  Math.max(1, Math.min(recordEveryMs(staleAfterMs, sweepIntervalMs) / 2, 5_000))
