/**
 * The parked waits' callback core (src/broker/parking.ts), which the hot path and the Effect
 * methods share: no wake-up may be lost between looking and parking, or between being woken and
 * looking again, and the parked-wait count stays exact however a wait ends.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { TooManyWaits } from "../../src/core/errors.js"
import { ParkedWaits, parkWith, waitUntilWith, type WaitResult } from "../../src/broker/parking.js"
import { Waiters } from "../../src/broker/waiters.js"
import { connected, sent, store } from "../core/given.js"
import { stateAfter } from "../core/decider.js"

const settled = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("parking a wait", () => {
  it("keeps a wake-up that fires while the wait registers, and leaves nothing registered behind", () => {
    const waiters = new Waiters<string>()
    const woken: Array<string> = []
    parkWith<string>(
      ({ wake }) => {
        const remove = waiters.add("k", () => wake("woken"))
        // The event the wait is after is applied between its registration and the end of parking.
        waiters.wakeAll("k")
        return [remove]
      },
      60_000,
      "timeout",
      (value) => woken.push(value)
    )
    expect(woken).toEqual(["woken"])
    // A dead registration would swallow the next wakeOne meant for a live wait.
    expect(waiters.count("k")).toBe(0)
    const next: Array<string> = []
    parkWith<string>(({ wake }) => [waiters.add("k", () => wake("second"))], 60_000, "timeout", (value) => next.push(value))
    expect(waiters.wakeOne("k")).toBe(true)
    expect(next).toEqual(["second"])
  })

  it("answers a wait whose value arrives right after it looked, as it parks", async () => {
    const waiters = new Waiters<string>()
    let value: number | undefined
    const results: Array<WaitResult<number>> = []
    waitUntilWith(
      () => value,
      (wake) => {
        const remove = waiters.add("k", wake)
        value = 42
        waiters.wakeAll("k")
        return [remove]
      },
      60_000,
      (result) => results.push(result)
    )
    await settled()
    expect(results).toEqual([{ value: 42, timedOut: false }])
    expect(waiters.count("k")).toBe(0)
  })

  it("looks again after a wake-up in a microtask, not in the middle of whatever woke it", async () => {
    const waiters = new Waiters<string>()
    let value: number | undefined
    const results: Array<WaitResult<number>> = []
    waitUntilWith(() => value, (wake) => [waiters.add("k", wake)], 60_000, (result) => results.push(result))
    value = 1
    waiters.wakeAll("k")
    expect(results).toEqual([])
    await settled()
    expect(results).toEqual([{ value: 1, timedOut: false }])
  })
})

describe("counting parked waits", () => {
  const limits = { maxWaits: 2, maxWaitsPerPeer: 2 }
  const never = () => undefined
  const register = (waiters: Waiters<string>) => (wake: () => void) => [waiters.add("k", wake)]

  it("counts a wait from admission until it answers, once, whatever is called after", async () => {
    const waits = new ParkedWaits(stateAfter(), limits)
    const waiters = new Waiters<string>()
    let ready: number | undefined
    const results: Array<unknown> = []
    const cancel = waits.waitUntilAdmittedWith(() => ready, register(waiters), 60_000, (result) => results.push(result))
    expect(waits.size).toBe(1)
    ready = 7
    waiters.wakeAll("k")
    await settled()
    expect(results).toEqual([Either.right({ value: 7, timedOut: false })])
    expect(waits.size).toBe(0)
    cancel()
    expect(waits.size).toBe(0)
  })

  it("stops counting a wait whose client went away, and one that timed out", async () => {
    const waits = new ParkedWaits(stateAfter(), limits)
    const waiters = new Waiters<string>()
    const cancel = waits.waitUntilAdmittedWith(never, register(waiters), 60_000, () => {})
    const timedOut: Array<unknown> = []
    waits.waitUntilAdmittedWith(never, register(waiters), 5, (result) => timedOut.push(result))
    expect(waits.size).toBe(2)
    cancel()
    cancel()
    expect(waits.size).toBe(1)
    expect(waiters.count("k")).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(timedOut).toEqual([Either.right({ value: null, timedOut: true })])
    expect(waits.size).toBe(0)
    expect(waiters.count("k")).toBe(0)
  })

  it("refuses a wait past the limit without counting it, and does not count a wait of 0 ms", () => {
    const waits = new ParkedWaits(stateAfter(), limits)
    const waiters = new Waiters<string>()
    waits.waitUntilAdmittedWith(never, register(waiters), 60_000, () => {})
    waits.waitUntilAdmittedWith(never, register(waiters), 60_000, () => {})
    const refused: Array<Either.Either<unknown, unknown>> = []
    waits.waitUntilAdmittedWith(never, register(waiters), 60_000, (result) => refused.push(result))
    expect(Either.isLeft(refused[0]!) && refused[0].left).toBeInstanceOf(TooManyWaits)
    expect(waits.size).toBe(2)
    const now: Array<unknown> = []
    waits.waitUntilAdmittedWith(never, register(waiters), 0, (result) => now.push(result))
    expect(now).toEqual([Either.right({ value: null, timedOut: true })])
    expect(waits.size).toBe(2)
  })
})

describe("command waits", () => {
  it("pass on a wake-up spent on a wait whose client went away before it looked", async () => {
    const state = stateAfter(connected("w1", "worker"), connected("w2", "worker"))
    const waits = new ParkedWaits(state, { maxWaits: 10, maxWaitsPerPeer: 2 })
    const claims: Array<string> = []
    const taking = (peerId: string) => ({
      claim: (commandId: string) => void claims.push(`${peerId} claims ${commandId}`),
      won: () => undefined
    })
    const first = waits.takeCommandWith("w1", 60_000, taking("w1"), () => {})
    const second = waits.takeCommandWith("w2", 60_000, taking("w2"), () => {})
    expect(waits.activeWaits("w1")).toBe(1)
    // A command for the role is applied: it wakes the longest-parked wait, w1's ...
    const [event] = store([sent("c1", "worker")], state.seq + 1)
    for (const change of state.apply(event!)) waits.wake(change)
    // ... whose client goes away before it has looked (its look waits for a microtask).
    first()
    expect(waits.activeWaits("w1")).toBe(0)
    await settled()
    expect(claims).toEqual(["w2 claims c1"])
    second()
    expect(waits.activeWaits("w2")).toBe(0)
  })
})
