/**
 * What an idle peer may want to hear about, as the broker applies the log: work it could pick up
 * (a command that became pending with no parked wait here to take it), a message, a fired signal,
 * and a reset. Notices are hints for pushes into sessions (`src/mcp/push.ts`); they change nothing,
 * and a listener that misses one loses no command: delivery is still a wait plus an ack.
 */
export type Notice =
  | { readonly kind: "command"; readonly commandId: string; readonly target: string }
  | {
      readonly kind: "message"
      readonly channel: string
      readonly id: number
      readonly from: string | null
      /** The message itself (already in memory as the event is applied). */
      readonly message: unknown
    }
  | { readonly kind: "signal"; readonly name: string; readonly by: string | null }
  /** A peer connected, changed role or status: who it is for pushes changes with it. */
  | { readonly kind: "peer"; readonly peerId: string }
  | { readonly kind: "reset" }

export type NoticeListener = (notice: Notice) => void

/**
 * The listeners, called synchronously while an event is applied. A listener must only note what
 * it heard and return (the apply loop answers every write); one that throws is isolated.
 */
export class Notices {
  private readonly listeners = new Set<NoticeListener>()

  listen(listener: NoticeListener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  get heard(): boolean {
    return this.listeners.size > 0
  }

  tell(notice: Notice): void {
    for (const listener of this.listeners) {
      try {
        listener(notice)
      } catch {
        // A listener's bug must not stop the projection; listeners log their own failures.
      }
    }
  }
}
