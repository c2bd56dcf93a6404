/**
 * The one seeded random generator of the tests and the benchmarks: the same seed gives the same
 * numbers on every run and every machine, so a "random" log, fuzz input or sample is repeatable.
 *
 * It lives under test/support but imports nothing (no vitest, no src), so `bench/` may import it
 * as well: the bench's log generator and replay sampling use the same numbers the tests do, and
 * `npm run bench` loads nothing of the test runner.
 */

/** A stream of numbers for one seed. */
export interface Random {
  /** A number in [0, 1). */
  readonly next: () => number
  /** An integer in [0, n). */
  readonly int: (n: number) => number
  /** One of `items`, or undefined when there are none (and then no number is used up). */
  readonly pick: <A>(items: ReadonlyArray<A>) => A | undefined
}

/** mulberry32: tiny, fast, and good enough for test data (not for anything secret). */
export const seeded = (seed: number): Random => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  const pick = <A>(items: ReadonlyArray<A>): A | undefined => (items.length === 0 ? undefined : items[int(items.length)])
  return { next, int, pick }
}
