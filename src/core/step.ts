import { createActor, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from "xstate"

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
  // Snapshots in one state differ only by their context (flat machines, no children, no history):
  // each keeps the first one's state nodes, tags and the rest, as restored checkpoints do, instead
  // of a set and arrays of its own. A projection of a long log holds tens of thousands of them.
  type Flat = { readonly value: unknown; readonly context: unknown }
  const templates = new Map<string, Flat>()
  const shared = (snapshot: SnapshotFrom<M>): SnapshotFrom<M> => {
    const { value, context } = snapshot as Flat
    if (typeof value !== "string") return snapshot
    const template = templates.get(value)
    if (template === undefined) {
      templates.set(value, snapshot as Flat)
      return snapshot
    }
    return { ...template, context } as SnapshotFrom<M>
  }
  return {
    initial: (input) => {
      chosen = []
      const snapshot = machine.getInitialSnapshot(scope as never, input) as SnapshotFrom<M>
      return [shared(snapshot), chosen] as const
    },
    next: (snapshot, event) => {
      chosen = []
      const next = machine.transition(snapshot as never, event, scope as never) as SnapshotFrom<M>
      return [next === snapshot ? next : shared(next), chosen] as const
    }
  }
}
