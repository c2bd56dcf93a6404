import { createSignal, onCleanup } from "solid-js"
import { followLog, pageProject, type Connection, type ConnectionMessage, type LinkState } from "../connection.js"
import { LogView, Timeline } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"
import type { Notices } from "./notices.js"

/**
 * The broker's log, followed live: the events held, where the person looks in it, and the state of
 * the link. A broker that restarted with a different log is replayed from the start. The events are
 * the page's project's (connection.ts), and so is the state shown.
 */
export const createLiveLog = (loop: FrameLoop, notices: Notices) => {
  const fresh = () => new LogView(new Timeline({ project: pageProject }))
  let live = fresh()
  const [link, setLink] = createSignal<LinkState>("connecting")
  // Started later (once the page knows it may read here), closed with the owner that made this store.
  let connection: Connection | undefined
  onCleanup(() => connection?.close())

  const receive = (message: ConnectionMessage) => {
    switch (message.type) {
      case "events": {
        for (const event of message.events) {
          try {
            live.timeline.append(event)
          } catch (error) {
            // The core cannot apply it: say so once rather than stop following the log.
            notices.say("error", `Event #${event.seq} (${event.type}) could not be applied: ${String(error)}`)
          }
        }
        loop.invalidate()
        return
      }
      case "link":
        setLink(message.state)
        return
      case "skipped":
        notices.setSkipped({ count: message.count, firstSeq: message.firstSeq })
        return
      case "restart":
        live = fresh()
        notices.setSkipped(null)
        notices.say("info", "The broker restarted with a different log: replaying it from the start.")
        loop.invalidate()
        return
    }
  }

  return {
    /** The live log; a new one after a restart, so read it each time (it changes with `version`). */
    view: (): LogView => live,
    link,
    /** "Loading the log: N events…" while the history streams in, else null. */
    loading: (): string | null => {
      if (link() !== "loading") return null
      loop.version()
      return `Loading the log: ${live.timeline.length.toLocaleString("en-US")} events…`
    },
    /** Follow the broker until the owner (the provider) is disposed. */
    start() {
      connection ??= followLog(receive)
    }
  }
}

export type LiveLog = ReturnType<typeof createLiveLog>
