import type { BrokerEvent } from "../core/events.js"
import type { LiveFeed } from "./liveFeed.js"
import type { RecentEvents } from "./recentEvents.js"

/** Keeping a few huge payloads in the cache would pin megabytes for little gain. */
const maxCachedRecordChars = 64 * 1024

/**
 * This node's view of the shared stream, in stream order. Events arrive from two sources: the PubAcks
 * of our own appends (fast, but only ours) and the ordered consumer that follows the stream (every
 * node's, a moment later). Each event is taken once, when every event before it is known: then the
 * head moves, the event goes into the cache, and the live feed hears of it — in that order, which
 * LiveFeed.tail relies on. An event ahead of a gap waits until the gap is filled.
 */
export class StreamOrder {
  private readonly ahead = new Map<number, BrokerEvent>()
  /** The stored size of each event in `ahead`, which the cache counts against its byte bound. */
  private readonly sizes = new Map<number, number>()
  private readonly waiting = new Map<number, Array<() => void>>()
  /** Seqs in `ahead` too large to keep in the cache once taken. */
  private readonly oversized = new Set<number>()

  constructor(
    /** The last seq of the contiguous prefix known here. */
    public head: number,
    private readonly recent: RecentEvents,
    private readonly feed: LiveFeed,
    private readonly onAt: (at: string) => void
  ) {}

  /** `chars` is the stored size of the event, to decide whether it is worth caching. */
  offer(event: BrokerEvent, chars: number): void {
    if (event.seq <= this.head || this.ahead.has(event.seq)) return
    this.ahead.set(event.seq, event)
    this.sizes.set(event.seq, chars)
    if (chars > maxCachedRecordChars) this.oversized.add(event.seq)
    if (event.seq !== this.head + 1) return
    const from = this.head
    const batch: Array<BrokerEvent> = []
    for (let next = this.ahead.get(this.head + 1); next !== undefined; next = this.ahead.get(this.head + 1)) {
      this.ahead.delete(next.seq)
      const chars = this.sizes.get(next.seq) ?? 0
      this.sizes.delete(next.seq)
      this.head = next.seq
      this.recent.put(next.seq, this.oversized.delete(next.seq) ? undefined : next, chars)
      this.onAt(next.at)
      batch.push(next)
    }
    this.feed.publish(batch)
    for (let seq = from + 1; seq <= this.head; seq++) {
      const resumes = this.waiting.get(seq)
      if (resumes === undefined) continue
      this.waiting.delete(seq)
      for (const resume of resumes) resume()
    }
  }

  /** Call `resume` once the head reaches `seq` (at once if it has); returns the unregistration. */
  whenHead(seq: number, resume: () => void): () => void {
    if (this.head >= seq) {
      resume()
      return () => {}
    }
    const resumes = this.waiting.get(seq) ?? []
    resumes.push(resume)
    this.waiting.set(seq, resumes)
    return () => {
      const left = this.waiting.get(seq)?.filter((r) => r !== resume)
      if (left === undefined) return
      if (left.length === 0) this.waiting.delete(seq)
      else this.waiting.set(seq, left)
    }
  }

  /** Resume every waiter whatever the head: the log gave up (they look at why themselves). */
  releaseAll(): void {
    const all = [...this.waiting.values()].flat()
    this.waiting.clear()
    for (const resume of all) resume()
  }

  /** Events known beyond a gap: non-zero only while another node's events are on their way. */
  get aheadCount(): number {
    return this.ahead.size
  }
}
