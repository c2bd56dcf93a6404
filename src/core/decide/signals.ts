import { decided, deciderOf, unchanged, type Decision, type DecisionState } from "./decision.js"

/** Fires a signal (again): every wait on it answers, and it stays fired until cleared. */
export interface Fire {
  readonly type: "Fire"
  readonly name: string
  readonly data?: unknown
  readonly by: string | null
}

/** Re-arms a signal, so the next wait blocks until the next fire. */
export interface Clear {
  readonly type: "Clear"
  readonly name: string
}

export type SignalCommand = Fire | Clear

export const fire = ({ name, data, by }: Fire): Decision =>
  decided({ type: "signal.fired", data: { name, data: data ?? null, by } })

/** Clearing a signal that is not fired (never fired, or cleared already) records nothing. */
export const clear = ({ name }: Clear, state: DecisionState): Decision =>
  state.signals.get(name)?.value === "fired" ? decided({ type: "signal.cleared", data: { name } }) : unchanged

export const decide = deciderOf<SignalCommand>()({ Fire: fire, Clear: clear })
