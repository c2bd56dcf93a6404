import type { BrokerEvent } from "../core/events.js"

/**
 * The last few thousand events of a log kept in memory, so that tails following live appends and
 * reads of what was just written do not go to disk. A ring indexed by seq: a newer event simply
 * overwrites the slot of the one `capacity` positions older.
 */
export class RecentEvents {
  private readonly ring: Array<BrokerEvent | undefined>

  constructor(readonly capacity: number) {
    this.ring = new Array(Math.max(1, capacity))
  }

  /** `event` undefined leaves the slot empty, for events too large to be worth keeping. */
  put(seq: number, event: BrokerEvent | undefined): void {
    this.ring[seq % this.ring.length] = event
  }

  get(seq: number): BrokerEvent | undefined {
    const event = this.ring[seq % this.ring.length]
    return event !== undefined && event.seq === seq ? event : undefined
  }
}
