import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeContext, type Context } from "../../bench/harness.js"
import { formatTable, ratioOf, verdictOf } from "../../bench/report.js"
import { jetStreamScenario, jetStreamParams } from "../../bench/scenarios/jetstream.js"
import { sendScenario } from "../../bench/scenarios/send.js"
import { spreadParams, spreadScenario } from "../../bench/scenarios/spread.js"

/**
 * The benchmark harness still runs: the cheapest scenario (channel send, 10 connections, 1 s) against
 * a real broker and the baseline, both child processes. No performance is asserted, only that the
 * row comes out with numbers in it.
 */
describe("bench harness (smoke)", () => {
  let ctx: Context & { dispose(): Promise<void> }
  beforeAll(async () => {
    ctx = await makeContext({ quick: true, keep: false, log: () => undefined })
  })
  afterAll(async () => {
    await ctx.dispose()
  })

  it("produces a channel-send row with numeric broker and baseline figures", async () => {
    const rows = await sendScenario(ctx, { connections: [10], seconds: 1, rounds: 1, warmupSeconds: 0 })
    expect(rows).toHaveLength(1)
    const [row] = rows
    expect(row!.scenario).toContain("10 connections")
    expect(Number.isFinite(row!.broker)).toBe(true)
    expect(row!.broker).toBeGreaterThan(0)
    expect(Number.isFinite(row!.baseline)).toBe(true)
    expect(row!.baseline).toBeGreaterThan(0)
    expect(Number.isFinite(ratioOf(row!))).toBe(true)
    expect(verdictOf(row!)).toBe("—") // no target at 10 connections
    const table = formatTable(rows)
    expect(table.split("\n")).toHaveLength(3)
    expect(table).toMatch(/\| channel send, 10 connections .*\| [\d,.]+ \/s +\| [\d,.]+ \/s +\| [\d.]+×/)
  }, 120_000)

  it("reports the JetStream rows as skipped, with no target, where no NATS server answers", async () => {
    const rows = await jetStreamScenario(ctx, jetStreamParams(true), "nats://127.0.0.1:1")
    expect(rows.map((row) => row.scenario)).toEqual([
      expect.stringMatching(/^jetstream: channel send, 100 connections .*: skipped \(no NATS\)$/),
      expect.stringMatching(/^jetstream: command round trip p99, 1 waiter: skipped \(no NATS\)$/)
    ])
    expect(rows.map(verdictOf)).toEqual(["—", "—"])
  })

  it("reports the spread row as skipped, with no target, where no NATS server answers", async () => {
    const rows = await spreadScenario(ctx, spreadParams(true), "nats://127.0.0.1:1")
    expect(rows.map((row) => row.scenario)).toEqual([expect.stringMatching(/^spread: channel send .*: skipped \(no NATS\)$/)])
    expect(rows.map(verdictOf)).toEqual(["—"])
  })
})
