import type { AnyStateMachine, SnapshotFrom } from "xstate"

/**
 * Our machines are flat and have no children or history, so snapshots in one state differ only by
 * their context. Every snapshot in a state is therefore made from one template, sharing its state
 * nodes, tags and the rest: a projection of a long log holds tens of thousands of snapshots (each
 * with a set and arrays of its own otherwise), and restoring a big checkpoint resolves each state
 * through xstate once instead of once per entity. One set of templates per machine serves the
 * projection's steps and the checkpoint decoder alike.
 */
export interface SnapshotTemplates<M extends AnyStateMachine> {
  /** The snapshot in state `value` with `context`, without running the machine. */
  readonly restore: (value: string, context: unknown) => SnapshotFrom<M>
  /** A snapshot the machine has just made, rebuilt on its state's template. */
  readonly share: (snapshot: SnapshotFrom<M>) => SnapshotFrom<M>
}

type Flat = { readonly value: unknown; readonly context: unknown }

const byMachine = new WeakMap<AnyStateMachine, SnapshotTemplates<AnyStateMachine>>()

export const snapshotTemplates = <M extends AnyStateMachine>(machine: M): SnapshotTemplates<M> => {
  const known = byMachine.get(machine)
  if (known !== undefined) return known as SnapshotTemplates<M>
  const templates = new Map<string, Flat>()
  const made: SnapshotTemplates<M> = {
    restore: (value, context) => {
      let template = templates.get(value)
      if (template === undefined) templates.set(value, (template = machine.resolveState({ value, context } as never) as Flat))
      return { ...template, context } as SnapshotFrom<M>
    },
    share: (snapshot) => {
      const { value, context } = snapshot as Flat
      if (typeof value !== "string") return snapshot
      const template = templates.get(value)
      if (template === undefined) {
        templates.set(value, snapshot as Flat)
        return snapshot
      }
      return { ...template, context } as SnapshotFrom<M>
    }
  }
  byMachine.set(machine, made as SnapshotTemplates<AnyStateMachine>)
  return made
}
