import type { BrokerEvent } from "../core/events.js"

/**
 * The last few thousand events of a log kept in memory, so that tails following live appends and
 * reads of what was just written do not go to disk. A ring indexed by seq: a newer event simply
 * overwrites the slot of the one `capacity` positions older.
 *
 * Bounded in bytes as well as in entries: a count alone would let a run of large records (each up to
 * the log's per-record limit) pin hundreds of megabytes. Past `maxBytes`, the oldest go first.
 */
export class RecentEvents {
  private readonly ring: Array<BrokerEvent | undefined>
  private readonly sizes: Float64Array
  private bytes = 0
  /** Slots of seqs below this are empty or stale: the window is `oldest..` the newest put. */
  private oldest = 0

  constructor(
    readonly capacity: number,
    readonly maxBytes = Number.POSITIVE_INFINITY
  ) {
    this.ring = new Array(Math.max(1, capacity))
    this.sizes = new Float64Array(this.ring.length)
  }

  /**
   * Puts come in seq order. `event` undefined leaves the slot empty, for events too large to be
   * worth keeping; `bytes` is what the event costs against `maxBytes` (its record's length).
   */
  put(seq: number, event: BrokerEvent | undefined, bytes = 0): void {
    const slot = seq % this.ring.length
    this.clear(seq)
    if (event !== undefined) {
      this.ring[slot] = event
      this.sizes[slot] = bytes
      this.bytes += bytes
    }
    this.oldest = Math.max(this.oldest, seq - this.ring.length + 1)
    while (this.bytes > this.maxBytes && this.oldest < seq) this.clear(this.oldest++)
  }

  get(seq: number): BrokerEvent | undefined {
    const event = this.ring[seq % this.ring.length]
    return event !== undefined && event.seq === seq ? event : undefined
  }

  private clear(seq: number): void {
    const slot = seq % this.ring.length
    this.bytes -= this.sizes[slot]!
    this.sizes[slot] = 0
    this.ring[slot] = undefined
  }
}
