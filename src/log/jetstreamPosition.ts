import type { LogPosition } from "./EventLog.js"

/**
 * Where a node's view stands against the stream: the stream's last seq as far as the node has heard
 * of it (its own PubAcks, each delivery's seq plus the messages pending after it, the probe), the
 * view's head, and since when the view has been behind. What `X-Log-Head`, `X-Log-Behind` and a
 * degraded `/healthz` report.
 */
export class ViewPosition {
  private streamLast: number
  private behindSince: number | undefined

  constructor(private readonly view: { readonly head: number }) {
    this.streamLast = view.head
  }

  /** The stream holds at least `seq` events. */
  heardOf(seq: number): void {
    if (seq <= this.streamLast) return
    this.streamLast = seq
    if (this.behindSince === undefined && seq > this.view.head) this.behindSince = Date.now()
  }

  /** The view's head moved: it may have caught up. */
  tookUp(): void {
    if (this.behindSince !== undefined && this.view.head >= this.streamLast) this.behindSince = undefined
  }

  /** True while the view is behind what the node has heard of the stream. */
  get behind(): boolean {
    return this.view.head < this.streamLast
  }

  get streamHead(): number {
    return Math.max(this.streamLast, this.view.head)
  }

  now(connected: boolean): LogPosition {
    const head = this.view.head
    const behind = Math.max(0, this.streamLast - head)
    return {
      head,
      streamHead: Math.max(this.streamLast, head),
      behind,
      behindMs: behind === 0 || this.behindSince === undefined ? 0 : Date.now() - this.behindSince,
      connected
    }
  }
}
