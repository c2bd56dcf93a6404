import { readFile } from "node:fs/promises"
import { describe, expect, it } from "vitest"
import { seeded } from "./random.js"

describe("seeded", () => {
  it("gives mulberry32's numbers: the generated logs of tests and benchmarks stay the same files", () => {
    const random = seeded(42)
    expect([random.next(), random.next(), random.next()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099])
    const ints = seeded(1)
    expect(Array.from({ length: 8 }, () => ints.int(100))).toEqual([62, 0, 52, 98, 96, 28, 61, 72])
  })

  it("repeats itself for a seed, and differs between seeds", () => {
    const draw = (seed: number) => {
      const random = seeded(seed)
      return Array.from({ length: 1000 }, () => random.next())
    }
    expect(draw(7)).toEqual(draw(7))
    expect(draw(7)).not.toEqual(draw(8))
    for (const n of draw(7)) {
      expect(n).toBeGreaterThanOrEqual(0)
      expect(n).toBeLessThan(1)
    }
  })

  it("picks from a list, and uses up no number on an empty one", () => {
    const a = seeded(3)
    const b = seeded(3)
    expect(a.pick([])).toBeUndefined()
    const items = ["x", "y", "z"] as const
    const picked = Array.from({ length: 30 }, () => a.pick(items))
    expect(picked).toEqual(Array.from({ length: 30 }, () => items[b.int(3)]))
    expect(new Set(picked)).toEqual(new Set(items))
  })

  it("imports nothing, so the benchmarks can use it without loading the test runner", async () => {
    const source = await readFile(new URL("./random.ts", import.meta.url), "utf8")
    expect(source).not.toMatch(/^\s*import\s/m)
  })
})
