import { peerStatus, type PeerSnapshot } from "../core/machines/peer.js"
import type { PeerView } from "../core/views.js"

/**
 * Signs of life, kept out of the log. "Still here" is not a fact anyone asks about later, so a
 * heartbeat, a wait or a call of an online peer only updates its last-seen time here; the log
 * records transitions (connected, stale, offline, back online), which the sweeper decides from the
 * time kept here. An idle session then costs the log nothing.
 *
 * On a log that other broker nodes append to, their sweepers cannot see this memory: a peer alive
 * on this node is also recorded in the log, at most every `recordEveryMs`, before it could look
 * stale to them.
 */
export class Liveness {
  private readonly seen = new Map<string, number>()

  constructor(
    /** Other broker nodes share the log (JetStream). */
    private readonly shared: boolean,
    /** How old a recorded sign of life may grow on a shared log before another is recorded. */
    private readonly recordEveryMs: number
  ) {}

  /** The latest sign of life: here, or the last one the log recorded, whichever is newer. */
  lastSeen(peer: PeerSnapshot): number {
    return Math.max(this.seen.get(peer.context.id) ?? 0, Date.parse(peer.context.lastSeenAt))
  }

  /** Note a sign of life at `now`; true when it must also be recorded as a `peer.heartbeat` event. */
  note(peer: PeerSnapshot, now: number): boolean {
    this.seen.set(peer.context.id, now)
    // Back online after stale or offline is a transition: a fact for the log.
    if (peerStatus(peer) !== "online") return true
    return this.shared && now - Date.parse(peer.context.lastSeenAt) >= this.recordEveryMs
  }

  /**
   * At start, the log knows only when each peer was last recorded, which may be long ago for a
   * peer that was alive until the restart: every present peer gets a fresh window from `now`.
   */
  seed(peers: Iterable<PeerSnapshot>, now: number): void {
    for (const peer of peers) if (peerStatus(peer) !== "offline") this.seen.set(peer.context.id, now)
  }

  forgetAll(): void {
    this.seen.clear()
  }

  /** A peer as clients see it, with the latest sign of life. */
  view(peer: PeerSnapshot, view: PeerView): PeerView {
    const seen = this.seen.get(peer.context.id)
    return seen === undefined || seen <= Date.parse(view.lastSeenAt) ? view : { ...view, lastSeenAt: new Date(seen).toISOString() }
  }
}

/** When a sign of life on a shared log is recorded: before the peer could look stale to a sweep. */
export const recordEveryMs = (staleAfterMs: number, sweepIntervalMs: number): number =>
  Math.max(1, Math.min(staleAfterMs / 2, staleAfterMs - 2 * sweepIntervalMs))
