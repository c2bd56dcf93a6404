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
  const { share, restore } = snapshotTemplates(machine)
  const direct = directSteps(machine, scope)
  return {
    initial: (input) => {
      chosen = []
      const snapshot = machine.getInitialSnapshot(scope as never, input) as SnapshotFrom<M>
      return [share(snapshot), chosen] as const
    },
    next: (snapshot, event) => {
      const { value, context, status } = snapshot as { readonly value: unknown; readonly context: unknown; readonly status: string }
      // xstate leaves a snapshot that is done (a final state) or stopped as it is: only active ones step here.
      const assign = typeof value === "string" && status === "active" ? direct(value, event.type) : undefined
      if (assign !== undefined) return [restore(value as string, assign(context, event)), noActions] as const
      chosen = []
      const next = machine.transition(snapshot as never, event, scope as never) as SnapshotFrom<M>
      return [next === snapshot ? next : share(next), chosen] as const
    }
  }
}

const noActions: ReadonlyArray<{ readonly type: string }> = []

/** An inline `assign(…)` as xstate keeps it in a transition's actions. */
interface AssignAction {
  readonly type: "xstate.assign"
  readonly assignment: unknown
}

const isAssign = (action: unknown): action is AssignAction =>
  typeof action === "function" && (action as { type?: unknown }).type === "xstate.assign"

type Assigner = (context: unknown, event: { readonly type: string }) => unknown

/**
 * The steps that are nothing but a context update, done without xstate's macrostep: in a flat
 * machine with no eventless transitions, an event the state itself handles with one unguarded,
 * targetless transition whose actions are all inline `assign`s. A channel's `message.sent` is one.
 * These ran xstate's whole macrostep (Sets and Maps of state nodes per step, a fifth of what a
 * channel send allocated; docs/benchmarks.md), to end where they started with a new context.
 * Applied as xstate's `resolveAssign` applies them, in order, each seeing the context the previous
 * one made; no actions are chosen (xstate executes none for an assign). test/core/step.test.ts holds
 * the result to xstate's own `transition`. Anything else (a target, a guard, a named or other
 * action, child states) goes through xstate.
 */
const directSteps = (
  machine: AnyStateMachine,
  scope: { readonly self: unknown; readonly system: unknown }
): ((value: string, eventType: string) => Assigner | undefined) => {
  /** By state, then event type: looked up on every step, so no key is built per step. */
  const plans = new Map<string, Map<string, Assigner | null>>()
  const noSpawn = () => {
    throw new Error(`${machine.id}: a step that spawns is not supported (our machines have no children)`)
  }
  const planFor = (value: string, eventType: string): Assigner | null => {
    const root = machine.root as unknown as StateNodeShape
    const node = root.states[value]
    if (node === undefined || Object.keys(node.states).length > 0 || (root.always?.length ?? 0) > 0 || (node.always?.length ?? 0) > 0) return null
    const candidates = node.transitions.get(eventType)
    if (candidates === undefined || candidates.length !== 1) return null
    const [transition] = candidates
    if (transition!.target !== undefined || transition!.guard !== undefined || transition!.reenter) return null
    const actions = transition!.actions
    if (actions.length === 0 || !actions.every(isAssign)) return null
    const assignments = (actions as ReadonlyArray<AssignAction>).map((action) => action.assignment)
    return (context, event) => {
      for (const assignment of assignments) {
        const args = { context, event, spawn: noSpawn, self: scope.self, system: scope.system }
        let partial: Record<string, unknown>
        if (typeof assignment === "function") partial = assignment(args, undefined)
        else {
          partial = {}
          for (const [key, assign] of Object.entries(assignment as Record<string, unknown>)) {
            partial[key] = typeof assign === "function" ? assign(args, undefined) : assign
          }
        }
        context = Object.assign({}, context, partial)
      }
      return context
    }
  }
  return (value, eventType) => {
    let byEvent = plans.get(value)
    if (byEvent === undefined) plans.set(value, (byEvent = new Map()))
    let plan = byEvent.get(eventType)
    if (plan === undefined) byEvent.set(eventType, (plan = planFor(value, eventType)))
    return plan ?? undefined
  }
}

/** The parts of an xstate state node the plan reads (xstate types them as internals). */
interface StateNodeShape {
  readonly states: Readonly<Record<string, StateNodeShape>>
  readonly always?: ReadonlyArray<unknown>
  readonly transitions: ReadonlyMap<
    string,
    ReadonlyArray<{ readonly target?: unknown; readonly guard?: unknown; readonly reenter?: boolean; readonly actions: ReadonlyArray<unknown> }>
  >
}
