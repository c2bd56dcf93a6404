import { createActor, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from "xstate"
import { snapshotTemplates } from "./snapshotTemplates.js"

interface Steps<M extends AnyStateMachine> {
  readonly initial: (input: InputFrom<M>) => readonly [SnapshotFrom<M>, ReadonlyArray<{ readonly type: string }>]
  readonly next: (
    snapshot: SnapshotFrom<M>,
    event: EventFromLogic<M>
  ) => readonly [SnapshotFrom<M>, ReadonlyArray<{ readonly type: string }>]
}

/**
 * xstate's pure `transition` / `initialTransition`, minus their cost: each call builds a throwaway
 * actor (running the machine's context factory) just to collect the actions chosen, and a replay of
 * a million events paid for a million actors. One inert scope per machine serves every call. That
 * is sound for our machines only because they have no timers, invocations or spawned children —
 * which the design requires anyway (time comes from the log).
 */
export const stepsOf = <M extends AnyStateMachine>(machine: M, sampleInput: InputFrom<M>): Steps<M> => {
  let chosen: Array<{ readonly type: string }> = []
  const self = createActor(machine, { input: sampleInput } as never)
  const scope = {
    self,
    defer: () => {},
    id: "",
    logger: () => {},
    sessionId: "",
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: { readonly type: string }) => void chosen.push(action)
  }
  const { share } = snapshotTemplates(machine)
  return {
    initial: (input) => {
      chosen = []
      const snapshot = machine.getInitialSnapshot(scope as never, input) as SnapshotFrom<M>
      return [share(snapshot), chosen] as const
    },
    next: (snapshot, event) => {
      chosen = []
      const next = machine.transition(snapshot as never, event, scope as never) as SnapshotFrom<M>
      return [next === snapshot ? next : share(next), chosen] as const
    }
  }
}
