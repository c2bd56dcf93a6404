import { Effect, Either } from "effect"
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
 *
 * Each wait is written once, with callbacks (`…With`: it is told its outcome through `done`, and
 * returns the function that cancels it), so that the synchronous hot path (the Broker's `direct`
 * API) costs no fiber per request; the Effect forms wrap the same functions.
 */

export interface WaitResult<A> {
  readonly value: A | null
  readonly timedOut: boolean
}

/** Ends a wait that has not answered yet: it leaves every index and never calls its `done`. */
export type Cancel = () => void

const noop: Cancel = () => {}

/** A wait written with callbacks, as an Effect: interrupting the fiber cancels it. */
export const fromCallback = <A, E>(start: (done: (result: Either.Either<A, E>) => void) => Cancel): Effect.Effect<A, E> =>
  Effect.async<A, E>((resume) => {
    const cancel = start(resume)
    return Effect.sync(cancel)
  })

/** What a parked wait's registrations may do with it: end it, or hold it for a hand-over. */
export interface Parking<A> {
  readonly wake: (value: A) => void
  readonly hold: () => ((value: A) => void) | undefined
}

/**
 * Park until woken through one of the registrations (with the value given), or for at most
 * `timeoutMs` (`onTimeout`). A plain timer, so a thousand parked waits cost a thousand timers and
 * nothing else. `hold` takes the wait out of its registrations and stops its timer; only the
 * function it returns ends it then. A wake-up during `register` itself is kept: the wait ends, and
 * the registrations made are removed as soon as they are known (else a dead wait would stay in an
 * index and swallow a later `wakeOne`).
 */
export const parkWith = <A>(
  register: (parking: Parking<A>) => ReadonlyArray<() => void>,
  timeoutMs: number,
  onTimeout: A,
  done: (value: A) => void
): Cancel => {
  let state: "parked" | "held" | "ended" = "parked"
  let removers: ReadonlyArray<() => void> | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const leave = () => {
    if (removers !== undefined) for (const remove of removers) remove()
    clearTimeout(timer)
  }
  const end = (value: A) => {
    state = "ended"
    leave()
    done(value)
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
  if (state !== "parked") {
    leave()
    return noop
  }
  if (timeoutMs !== Infinity) timer = setTimeout(() => state === "parked" && end(onTimeout), timeoutMs)
  return () => {
    if (state === "ended") return
    state = "ended"
    leave()
  }
}

/** `parkWith` as an Effect. */
export const parkUntil = <A>(
  register: (parking: Parking<A>) => ReadonlyArray<() => void>,
  timeoutMs: number,
  onTimeout: A
): Effect.Effect<A> => fromCallback<A, never>((done) => parkWith(register, timeoutMs, onTimeout, (value) => done(Either.right(value))))

/** Park until `wake` is called through one of the registrations (true), or for at most `timeoutMs` (false). */
export const park = (register: (wake: () => void) => ReadonlyArray<() => void>, timeoutMs = Infinity): Effect.Effect<boolean> =>
  parkUntil<boolean>(({ wake }) => register(() => wake(true)), timeoutMs, false)

/**
 * Wait until `ready` answers or `timeoutMs` passes; `register` must index the wake by what it waits
 * for. `ready` is checked and the wait registered in one synchronous step, so no wake-up can fall
 * in between. A wake-up looks again in a microtask: wakes come while the projection applies an
 * event, and whoever is woken must not act (answer, append) in the middle of that.
 */
export const waitUntilWith = <A>(
  ready: () => A | undefined,
  register: (wake: () => void) => ReadonlyArray<() => void>,
  timeoutMs: number,
  done: (result: WaitResult<A>) => void
): Cancel => {
  const deadline = Date.now() + timeoutMs
  let over = false
  let cancelPark: Cancel = noop
  const finish = (result: WaitResult<A>) => {
    over = true
    done(result)
  }
  const look = (): void => {
    if (over) return
    const value = ready()
    if (value !== undefined) return finish({ value, timedOut: false })
    const left = deadline - Date.now()
    if (left <= 0) return finish({ value: null, timedOut: true })
    cancelPark = parkWith(({ wake }) => register(() => wake(true)), left, false, (woken) => {
      cancelPark = noop
      if (woken) queueMicrotask(look)
      else finish({ value: null, timedOut: true })
    })
  }
  look()
  return () => {
    over = true
    cancelPark()
  }
}

/** `waitUntilWith` as an Effect. */
export const waitUntil = <A>(
  ready: () => A | undefined,
  register: (wake: () => void) => ReadonlyArray<() => void>,
  timeoutMs: number
): Effect.Effect<WaitResult<A>> =>
  fromCallback<WaitResult<A>, never>((done) => waitUntilWith(ready, register, timeoutMs, (result) => done(Either.right(result))))

/** The append that carried a reserved wait's claim, as it went. */
export type HandedOff = Either.Either<ReadonlyArray<BrokerEvent>, LogUnavailable>

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
  readonly claim: (commandId: string, done: (claimed: Either.Either<A | undefined, E>) => void) => void
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
  /** Claims this node has in flight, so that two local waiters do not race for one command. */
  readonly claiming = new Set<string>()
  private readonly byPeer = new Map<string, number>()
  constructor(
    private readonly state: DecisionState,
    private readonly limits: WaitLimits,
    /** Parked long-polls (counted from admission to answer), shared by the waits of every project: the limit is the process's. */
    private readonly count: { parked: number } = { parked: 0 }
  ) {}

  /** Parked long-polls of every project sharing `count`. */
  get size(): number {
    return this.count.parked
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

  /**
   * Admit a long-poll, refusing it when too many are parked already. Admitted, it counts until the
   * function returned is called: exactly once however the wait ends (answered, timed out, or its
   * client gone), since calling it again changes nothing. A wait of 0 ms is no long-poll.
   */
  admit(timeoutMs: number): Either.Either<() => void, TooManyWaits> {
    if (timeoutMs === 0) return Either.right(noop)
    if (this.count.parked >= this.limits.maxWaits) {
      return Either.left(new TooManyWaits({ message: `${this.count.parked} waits are parked already; retry later` }))
    }
    this.count.parked++
    let counted = true
    return Either.right(() => {
      if (!counted) return
      counted = false
      this.count.parked--
    })
  }

  /** A peer waits for one command at a time; a few parked at once are tolerated, more are refused. */
  refusedForPeer(peerId: string, timeoutMs: number): TooManyWaits | undefined {
    const { maxWaitsPerPeer } = this.limits
    return timeoutMs > 0 && this.activeWaits(peerId) >= maxWaitsPerPeer
      ? new TooManyWaits({ message: `peer '${peerId}' has ${maxWaitsPerPeer} waits parked already; one is enough` })
      : undefined
  }

  /** `waitUntilWith`, admitted and counted while it runs. */
  waitUntilAdmittedWith<A>(
    ready: () => A | undefined,
    register: (wake: () => void) => ReadonlyArray<() => void>,
    timeoutMs: number,
    done: (result: Either.Either<WaitResult<A>, TooManyWaits>) => void
  ): Cancel {
    const admitted = this.admit(timeoutMs)
    if (Either.isLeft(admitted)) {
      done(Either.left(admitted.left))
      return noop
    }
    const release = admitted.right
    const cancel = waitUntilWith(ready, register, timeoutMs, (result) => {
      release()
      done(Either.right(result))
    })
    return () => {
      release()
      cancel()
    }
  }

  waitUntilAdmitted<A>(
    ready: () => A | undefined,
    register: (wake: () => void) => ReadonlyArray<() => void>,
    timeoutMs: number
  ): Effect.Effect<WaitResult<A>, TooManyWaits> {
    return fromCallback((done) => this.waitUntilAdmittedWith(ready, register, timeoutMs, done))
  }

  /** The oldest pending command a peer may take that no claim of this node is after already. */
  private firstClaimableFor(peerId: string) {
    return nextClaimable(this.state, peerId, this.claiming)
  }

  /**
   * A command wait (already admitted): take the oldest command the peer may take, or park on its
   * id and role until one becomes pending, is handed to it, or the timeout passes. A claim that
   * loses (another waiter or node came first) sends it back to waiting. Counted among the peer's
   * waits (`activeWaits`) from now until it answers or is cancelled.
   */
  takeCommandWith<A, E>(
    peerId: string,
    timeoutMs: number,
    taking: Taking<A, E>,
    done: (result: Either.Either<WaitResult<A>, E>) => void
  ): Cancel {
    const deadline = Date.now() + timeoutMs
    this.byPeer.set(peerId, (this.byPeer.get(peerId) ?? 0) + 1)
    let over = false
    /** A wake-up was spent on this wait and it has not looked yet: if it ends now, it passes the wake-up on. */
    let woken = false
    let cancelPark: Cancel = noop
    const leave = () => {
      over = true
      cancelPark()
      const left = (this.byPeer.get(peerId) ?? 1) - 1
      if (left === 0) this.byPeer.delete(peerId)
      else this.byPeer.set(peerId, left)
      // Woken for a command but gone before claiming it: hand the wake-up to the next waiter.
      if (woken) this.redispatch(peerId)
    }
    const finish = (result: Either.Either<WaitResult<A>, E>) => {
      if (over) return
      leave()
      done(result)
    }
    const attempt = (): void => {
      if (over) return
      woken = false
      const found = this.firstClaimableFor(peerId)
      if (found !== undefined) {
        return taking.claim(found.context.id, (claimed) => {
          if (Either.isLeft(claimed)) return finish(Either.left(claimed.left))
          if (claimed.right !== undefined) return finish(Either.right({ value: claimed.right, timedOut: false }))
          attempt()
        })
      }
      const left = deadline - Date.now()
      if (left <= 0) return finish(Either.right({ value: null, timedOut: true }))
      cancelPark = this.parkCommandWait(peerId, left, (wake) => {
        cancelPark = noop
        if (wake.kind === "timeout") return finish(Either.right({ value: null, timedOut: true }))
        if (wake.kind === "woken") {
          woken = true
          // Woken while the projection applies an event: look (and claim) once that is done.
          return queueMicrotask(attempt)
        }
        // A handed command whose append failed, or whose claim lost, leaves the wait as it was.
        const won = Either.isRight(wake.appended) ? taking.won(wake.commandId, wake.appended.right) : undefined
        if (won !== undefined) return finish(Either.right({ value: won, timedOut: false }))
        queueMicrotask(attempt)
      })
    }
    attempt()
    return () => {
      if (!over) leave()
    }
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

  /** Park a command wait on the peer's id and role for at most `timeoutMs`. */
  private parkCommandWait(peerId: string, timeoutMs: number, done: (wake: CommandWake) => void): Cancel {
    return parkWith<CommandWake>(
      ({ wake, hold }) => {
        const wait: ParkedCommandWait = {
          peerId,
          wake: () => wake({ kind: "woken" }),
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
      { kind: "timeout" },
      done
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
