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
      const step = typeof value === "string" ? direct(value, status, event.type) : undefined
      if (step !== undefined) {
        const moved = step(context, event)
        return moved === ignored ? ([snapshot, noActions] as const) : ([restore(moved.value, moved.context), noActions] as const)
      }
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
type Guard = (args: { readonly context: unknown; readonly event: unknown }, params: undefined) => boolean

/** Where a direct step leaves the machine: its new state and context, or `ignored` (the snapshot stays as it is). */
type Moved = { readonly value: string; readonly context: unknown } | typeof ignored
const ignored = "ignored"
type DirectStep = (context: unknown, event: { readonly type: string }) => Moved

/**
 * The steps of a flat machine done without xstate's macrostep, which builds Sets and Maps of state
 * nodes on every step (a fifth of what a channel send allocated, and most of a command's step;
 * docs/benchmarks.md): an event the current state handles with transitions whose guards are plain
 * functions (inline or named), whose actions are all `assign`s (inline or named), and whose target,
 * if any, is another top-level state with no entry actions (the source has no exit actions); or an
 * event nobody handles, which leaves the snapshot as it is. Done as xstate does it: the candidates in
 * order, the first whose guard passes; its assigns in order, each seeing the context the previous
 * one made; no actions chosen (xstate executes none for an assign); the target state's snapshot,
 * which is `done` for a final state of a machine without output. test/core/step.test.ts holds the
 * result to xstate's own `transition`. Anything else (eventless transitions, child states, entry or
 * exit actions, other actions, guards with parameters or combinators, transitions on the root that
 * an event reaches) goes through xstate.
 */
const directSteps = (
  machine: AnyStateMachine,
  scope: { readonly self: unknown; readonly system: unknown }
): ((value: string, status: string, eventType: string) => DirectStep | undefined) => {
  /** By state, then event type: looked up on every step, so no key is built per step. */
  const plans = new Map<string, Map<string, DirectStep | null>>()
  const noSpawn = () => {
    throw new Error(`${machine.id}: a step that spawns is not supported (our machines have no children)`)
  }
  const implementations = machine.implementations as {
    readonly guards: Readonly<Record<string, unknown>>
    readonly actions: Readonly<Record<string, unknown>>
  }
  const root = machine.root as unknown as StateNodeShape
  const isPlain = (node: StateNodeShape | undefined): node is StateNodeShape =>
    node !== undefined && node.parent === root && Object.keys(node.states).length === 0 && (node.always?.length ?? 0) === 0
  const machineIsFlat =
    (root.always?.length ?? 0) === 0 && root.entry.length === 0 && root.exit.length === 0 && (machine.config as { output?: unknown }).output === undefined

  /** A guard as a function of context and event, or null when only xstate can evaluate it. */
  const guardOf = (guard: unknown): Guard | undefined | null => {
    if (guard === undefined) return undefined
    const resolved = typeof guard === "string" ? implementations.guards[guard] : guard
    return typeof resolved === "function" && !("check" in resolved) ? (resolved as Guard) : null
  }
  /** The assignments of a transition's actions, or null if any is not an `assign`. */
  const assignmentsOf = (actions: ReadonlyArray<unknown>): ReadonlyArray<unknown> | null => {
    const assignments: Array<unknown> = []
    for (const action of actions) {
      const resolved = typeof action === "string" ? implementations.actions[action] : action
      if (!isAssign(resolved)) return null
      assignments.push(resolved.assignment)
    }
    return assignments
  }
  const applied = (assignments: ReadonlyArray<unknown>): Assigner => (context, event) => {
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

  const planFor = (value: string, eventType: string): DirectStep | null => {
    const node = root.states[value]
    if (!machineIsFlat || !isPlain(node) || root.transitions.has(eventType)) return null
    for (const key of node.transitions.keys()) if (key.includes("*")) return null
    const candidates = node.transitions.get(eventType)
    if (candidates === undefined) return () => ignored
    const planned: Array<{ readonly guard: Guard | undefined; readonly target: string; readonly assign: Assigner }> = []
    for (const transition of candidates) {
      const guard = guardOf(transition.guard)
      const assignments = assignmentsOf(transition.actions)
      if (guard === null || assignments === null || transition.reenter) return null
      let target = value
      if (transition.target !== undefined) {
        const [to, ...more] = transition.target
        if (more.length > 0 || !isPlain(to) || to === node || to.entry.length > 0 || node.exit.length > 0) return null
        target = to.key
      }
      planned.push({ guard, target, assign: applied(assignments) })
    }
    return (context, event) => {
      for (const { guard, target, assign } of planned) {
        if (guard === undefined || guard({ context, event }, undefined)) return { value: target, context: assign(context, event) }
      }
      return ignored
    }
  }
  // xstate leaves a snapshot that is done (a final state) or stopped as it is. Only a machine with
  // transitions on its root is left to xstate then: those could be selected even so.
  const settled: DirectStep | undefined = machineIsFlat && root.transitions.size === 0 ? () => ignored : undefined
  return (value, status, eventType) => {
    if (status !== "active") return settled
    let byEvent = plans.get(value)
    if (byEvent === undefined) plans.set(value, (byEvent = new Map()))
    let plan = byEvent.get(eventType)
    if (plan === undefined) byEvent.set(eventType, (plan = planFor(value, eventType)))
    return plan ?? undefined
  }
}

/** The parts of an xstate state node the plans read (xstate types them as internals). */
interface StateNodeShape {
  readonly key: string
  readonly parent?: StateNodeShape
  readonly states: Readonly<Record<string, StateNodeShape>>
  readonly always?: ReadonlyArray<unknown>
  readonly entry: ReadonlyArray<unknown>
  readonly exit: ReadonlyArray<unknown>
  readonly transitions: ReadonlyMap<
    string,
    ReadonlyArray<{
      readonly target?: ReadonlyArray<StateNodeShape>
      readonly guard?: unknown
      readonly reenter?: boolean
      readonly actions: ReadonlyArray<unknown>
    }>
  >
}
