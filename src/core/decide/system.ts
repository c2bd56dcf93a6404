import { decided, deciderOf, type Decision } from "./decision.js"

/**
 * Forgets every peer, command, channel and signal. The reset is itself an event: the history
 * before it stays in the log, and time travel still shows it.
 */
export interface Reset {
  readonly type: "Reset"
  readonly by: string | null
}

export type SystemCommand = Reset

export const reset = ({ by }: Reset): Decision => decided({ type: "broker.reset", data: { by } })

export const decide = deciderOf<SystemCommand>()({ Reset: reset })
