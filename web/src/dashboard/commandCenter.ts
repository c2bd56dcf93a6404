import { createMemo, createSignal } from "solid-js"
import { BrokerRefused, cancelCommand, decideHeldCommand, redeliverCommand, sendCommand } from "../connection.js"
import { commandNow, targetsIn, type Targets } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"
import type { LiveLog } from "./liveLog.js"
import type { Notices } from "./notices.js"

export interface SentCommand {
  readonly id: string
  readonly action: string
  readonly target: string
}

/** How many of the commands sent from this page the command center lists. */
const sentShown = 5

/**
 * Giving orders: who can be sent to (the live head, whatever the panels show), sending as "human",
 * the commands sent from here with their status as the log tells it, and cancelling.
 */
export const createCommandCenter = (loop: FrameLoop, live: LiveLog, notices: Notices) => {
  const [sent, setSent] = createSignal<ReadonlyArray<SentCommand>>([])

  /** Roles and peers online now (the live head). */
  const targets = createMemo<Targets>(() => {
    loop.version()
    return targetsIn(live.view().timeline.headState)
  })

  /** The commands sent from here, with their status at the live head. */
  const sentStatus = createMemo(() => {
    loop.version()
    const head = live.view().timeline.headState
    return sent().map((command) => ({ ...command, now: commandNow(head, command.id) }))
  })

  return {
    targets,
    sent: sentStatus,
    /** A peer at the live head, by id, to name it (role and label first). */
    peer(id: string | null | undefined) {
      loop.version()
      return id == null ? undefined : live.view().timeline.headState.peers.get(id)?.context
    },
    /** Whether a command was sent from this page (its row is highlighted). */
    sentHere: (id: string) => sent().some((command) => command.id === id),
    async send(request: { readonly target: string; readonly action: string; readonly params: unknown }) {
      const command = await sendCommand(request)
      setSent((list) => [{ id: command.id, action: command.action, target: command.target }, ...list].slice(0, sentShown))
      loop.invalidate()
      return command
    },
    async cancel(commandId: string, sentBy: string) {
      try {
        await cancelCommand(commandId, sentBy)
      } catch (error) {
        notices.say("error", error instanceof BrokerRefused ? error.message : String(error))
      }
    },
    async redeliver(commandId: string) {
      try {
        await redeliverCommand(commandId)
      } catch (error) {
        notices.say("error", error instanceof BrokerRefused ? error.message : String(error))
      }
    },
    /** A held command approved (to pending) or rejected (for good). */
    async decide(commandId: string, verb: "approve" | "reject") {
      try {
        await decideHeldCommand(commandId, verb)
      } catch (error) {
        notices.say("error", error instanceof BrokerRefused ? error.message : String(error))
      }
    }
  }
}

export type CommandCenterStore = ReturnType<typeof createCommandCenter>
