import { Effect, Exit } from "effect"
import { nextClaimable } from "../core/decide/commands.js"
import type { DecisionState } from "../core/decide/decision.js"
import { LogUnavailable, TooManyWaits } from "../core/errors.js"
import type { BrokerEvent } from "../core/events.js"
import type { Change } from "../core/projection.js"
import { Waiters } from "./waiters.js"

/**
 * The waits parked on this node: how a long poll parks until an applied event concerns it or its
 * timeout, how applied changes wake the waits they concern, and how a command wait is reserved for
 * a command sent to it. Nothing here decides what goes into the log; the Broker does, and this
 * module only knows who is waiting for what.
 */

export interface WaitResult<A> {
  readonly value: A | null
  readonly timedOut: boolean
}

/** What a parked wait's registrations may do with it: end it, or hold it for a hand-over. */
export interface Parking<A> {
  readonly wake: (value: A) => void
  readonly hold: () => ((value: A) => void) | undefined
}

/**
 * Park until woken through one of the registrations (with the value given), or for at most
 * `timeoutMs` (`onTimeout`). A plain timer rather than Effect's timeout combinators: a thousand
 * parked waits cost a thousand timers, not a thousand racing fibers. `hold` takes the wait out of
 * its registrations and stops its timer; only the function it returns ends it then.
 */
export const parkUntil = <A>(
  register: (parking: Parking<A>) => ReadonlyArray<() => void>,
  timeoutMs: number,
  onTimeout: A
): Effect.Effect<A> =>
  Effect.async<A>((resume) => {
    let state: "parked" | "held" | "ended" = "parked"
    let removers: ReadonlyArray<() => void> = []
    let timer: ReturnType<typeof setTimeout> | undefined
    const leave = () => {
      for (const remove of removers) remove()
      clearTimeout(timer)
    }
    const end = (value: A) => {
      state = "ended"
      leave()
      resume(Effect.succeed(value))
    }
    removers = register({
      wake: (value) => state === "parked" && end(value),
      hold: () => {
        if (state !== "parked") return undefined
        state = "held"
        leave()
        return (value) => state === "held" && end(value)
      }
    })
    if (timeoutMs !== Infinity) timer = setTimeout(() => state === "parked" && end(onTimeout), timeoutMs)
    return Effect.sync(() => {
      state = "ended"
      leave()
    })
  })

/** Park until `wake` is called through one of the registrations (true), or for at most `timeoutMs` (false). */
export const park = (register: (wake: () => void) => ReadonlyArray<() => void>, timeoutMs = Infinity): Effect.Effect<boolean> =>
  parkUntil<boolean>(({ wake }) => register(() => wake(true)), timeoutMs, false)

/** Wait until `ready` answers or `timeoutMs` passes; `register` must index the wake by what it waits for. */
export const waitUntil = <A>(
  ready: () => A | undefined,
  register: (wake: () => void) => ReadonlyArray<() => void>,
  timeoutMs: number
): Effect.Effect<WaitResult<A>> => {
  const deadline = Date.now() + timeoutMs
  const loop: Effect.Effect<WaitResult<A>> = Effect.suspend(() => {
    const value = ready()
    if (value !== undefined) return Effect.succeed({ value, timedOut: false })
    const left = deadline - Date.now()
    if (left <= 0) return Effect.succeed({ value: null, timedOut: true })
    return Effect.flatMap(park(register, left), (woken) => (woken ? loop : Effect.succeed({ value: null, timedOut: true })))
  })
  return loop
}

/** The append that carried a reserved wait's claim, as it went. */
export type HandedOff = Exit.Exit<ReadonlyArray<BrokerEvent>, LogUnavailable>

/** A command wait parked on this node. */
interface ParkedCommandWait {
  readonly peerId: string
  /** A command it may take became pending: it looks again. */
  readonly wake: () => void
  /**
   * For a sender that appends this wait's claim together with its command: takes the wait out of
   * every index and stops its timeout (undefined if it is not parked any more). The function returned
   * must be called with the append's outcome.
   */
  readonly reserve: () => ((commandId: string, appended: HandedOff) => void) | undefined
}

/** How a parked command wait ends: a wake-up to look again, its timeout, or a command handed to it. */
type CommandWake =
  | { readonly kind: "woken" }
  | { readonly kind: "timeout" }
  | { readonly kind: "handed"; readonly commandId: string; readonly appended: HandedOff }

export interface WaitLimits {
  readonly maxWaits: number
  readonly maxWaitsPerPeer: number
}

/** How a command wait takes what it finds: claim it (undefined when another claim came first). */
export interface Taking<A, E> {
  readonly claim: (commandId: string) => Effect.Effect<A | undefined, E>
  /** A claim appended for this wait by a sender (`reserveFor`): what the state says of it, if it won. */
  readonly won: (commandId: string, appended: ReadonlyArray<BrokerEvent>) => A | undefined
}

export class ParkedWaits {
  /** Command waits, by peer id and by role. */
  private readonly forCommands = new Waiters<string, ParkedCommandWait>()
  /** Result waits, by command id. */
  readonly forResults = new Waiters<string>()
  /** Channel readers, by channel. */
  readonly forMessages = new Waiters<string>()
  /** Signal waits, by name. */
  readonly forSignals = new Waiters<string>()
  /** Writes waiting until the state has applied their event, by seq. */
  readonly forApplied = new Waiters<number>()
  /** Claims this node has in flight, so that two local waiters do not race for one command. */
  readonly claiming = new Set<string>()
  private readonly byPeer = new Map<string, number>()
  private parked = 0

  constructor(
    private readonly state: DecisionState,
    private readonly limits: WaitLimits
  ) {}

  /** Parked long-polls (counted from admission to answer). */
  get size(): number {
    return this.parked
  }

  /** Command waits of one peer: the sweeper takes a parked peer as alive. */
  activeWaits(peerId: string): number {
    return this.byPeer.get(peerId) ?? 0
  }

  /**
   * Wakes the waits a change concerns. True for a command that became pending and that no wait
   * here is after: news for the idle peers that could take it.
   */
  wake(change: Change): boolean {
    switch (change.kind) {
      case "command.pending":
        // A command this node is claiming already (handed to a parked wait as it was sent) wakes no one.
        return !this.claiming.has(change.commandId) && !this.forCommands.wakeOne(change.target)
      case "command.settled":
        this.forResults.wakeAll(change.commandId)
        return false
      case "message":
        this.forMessages.wakeAll(change.channel)
        return false
      case "signal":
        this.forSignals.wakeAll(change.name)
        return false
      case "reset":
        this.forResults.wakeEverything()
        return false
      default:
        return false
    }
  }

  /** Count a long-poll while it runs, refusing it when too many are parked already. */
  admitted<A, E>(timeoutMs: number, wait: Effect.Effect<A, E>): Effect.Effect<A, E | TooManyWaits> {
    return Effect.suspend((): Effect.Effect<A, E | TooManyWaits> => {
      if (timeoutMs === 0) return wait
      if (this.parked >= this.limits.maxWaits) {
        return Effect.fail(new TooManyWaits({ message: `${this.parked} waits are parked already; retry later` }))
      }
      this.parked++
      return Effect.ensuring(
        wait,
        Effect.sync(() => this.parked--)
      )
    })
  }

  /** A peer waits for one command at a time; a few parked at once are tolerated, more are refused. */
  refusedForPeer(peerId: string, timeoutMs: number): TooManyWaits | undefined {
    const { maxWaitsPerPeer } = this.limits
    return timeoutMs > 0 && this.activeWaits(peerId) >= maxWaitsPerPeer
      ? new TooManyWaits({ message: `peer '${peerId}' has ${maxWaitsPerPeer} waits parked already; one is enough` })
      : undefined
  }

  waitUntilAdmitted<A>(
    ready: () => A | undefined,
    register: (wake: () => void) => ReadonlyArray<() => void>,
    timeoutMs: number
  ): Effect.Effect<WaitResult<A>, TooManyWaits> {
    return this.admitted(timeoutMs, waitUntil(ready, register, timeoutMs))
  }

  /** The oldest pending command a peer may take that no claim of this node is after already. */
  private firstClaimableFor(peerId: string) {
    return nextClaimable(this.state, peerId, this.claiming)
  }

  /**
   * A command wait (already admitted): take the oldest command the peer may take, or park on its
   * id and role until one becomes pending, is handed to it, or the timeout passes. A claim that
   * loses (another waiter or node came first) sends it back to waiting.
   */
  takeCommand<A, E>(peerId: string, timeoutMs: number, taking: Taking<A, E>): Effect.Effect<WaitResult<A>, E> {
    return Effect.suspend(() => {
      const deadline = Date.now() + timeoutMs
      this.byPeer.set(peerId, (this.byPeer.get(peerId) ?? 0) + 1)
      let woken = false
      const attempt: Effect.Effect<WaitResult<A>, E> = Effect.suspend(() => {
        woken = false
        const found = this.firstClaimableFor(peerId)
        if (found !== undefined) {
          return Effect.flatMap(taking.claim(found.context.id), (won) =>
            won ? Effect.succeed({ value: won, timedOut: false }) : attempt
          )
        }
        const left = deadline - Date.now()
        if (left <= 0) return Effect.succeed({ value: null, timedOut: true })
        const onWoken = () => {
          woken = true
        }
        return Effect.flatMap(this.parkCommandWait(peerId, left, onWoken), (wake): Effect.Effect<WaitResult<A>, E> => {
          if (wake.kind === "timeout") return Effect.succeed({ value: null, timedOut: true })
          if (wake.kind === "woken") return attempt
          // A handed command whose append failed, or whose claim lost, leaves the wait as it was.
          const won = Exit.isSuccess(wake.appended) ? taking.won(wake.commandId, wake.appended.value) : undefined
          return won ? Effect.succeed({ value: won, timedOut: false }) : attempt
        })
      })
      return attempt.pipe(
        Effect.ensuring(
          Effect.sync(() => {
            const left = (this.byPeer.get(peerId) ?? 1) - 1
            if (left === 0) this.byPeer.delete(peerId)
            else this.byPeer.set(peerId, left)
            // Woken for a command but gone before claiming it: hand the wake-up to the next waiter.
            if (woken) this.redispatch(peerId)
          })
        )
      )
    })
  }

  /**
   * A parked wait this node may hand a command it is sending: the longest-parked one on the target
   * whose peer has nothing older to take. Reserving it takes it out of every index and stops its
   * timeout, so it waits for the outcome of the append that carries its claim.
   */
  reserveFor(target: string): { readonly peerId: string; readonly handOff: (commandId: string, appended: HandedOff) => void } | undefined {
    for (const wait of this.forCommands.on(target)) {
      if (!this.state.peers.has(wait.peerId) || this.firstClaimableFor(wait.peerId) !== undefined) continue
      const handOff = wait.reserve()
      if (handOff) return { peerId: wait.peerId, handOff }
    }
    return undefined
  }

  /**
   * Park a command wait on the peer's id and role for at most `timeoutMs`. `onWoken` runs the moment
   * a wake-up is spent on it, before the fiber resumes, so that a wait interrupted in between still
   * knows to pass the wake-up on.
   */
  private parkCommandWait(peerId: string, timeoutMs: number, onWoken: () => void): Effect.Effect<CommandWake> {
    return parkUntil<CommandWake>(
      ({ wake, hold }) => {
        const wait: ParkedCommandWait = {
          peerId,
          wake: () => {
            onWoken()
            wake({ kind: "woken" })
          },
          reserve: () => {
            const handOff = hold()
            return handOff && ((commandId, appended) => handOff({ kind: "handed", commandId, appended }))
          }
        }
        const role = this.state.peers.get(peerId)?.context.role
        return role === undefined || role === peerId
          ? [this.forCommands.add(peerId, wait)]
          : [this.forCommands.add(peerId, wait), this.forCommands.add(role, wait)]
      },
      timeoutMs,
      { kind: "timeout" }
    )
  }

  /** Wake the next waiter for each queue this peer could have taken from (its id's and its role's). */
  private redispatch(peerId: string): void {
    const peer = this.state.peers.get(peerId)
    if (!peer) return
    for (const command of this.state.pendingOf(peer.context.id, peer.context.role)) {
      if (this.claiming.has(command.context.id)) continue
      this.forCommands.wakeOne(command.context.target)
    }
  }
}
