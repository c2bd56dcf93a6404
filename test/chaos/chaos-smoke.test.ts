/**
 * A short `npm run chaos` (chaos/): the real bin under mixed load — command round trips, channel
 * sends and readers, signals, SSE followers, MCP sessions, clients leaving mid-request — while one
 * fault of each kind is injected: a full disk (tmpfs) during which the file broker is SIGKILLed and
 * restarted at once (while the killed one is still a zombie), a kill -9 and restart of nats-server
 * under two JetStream broker nodes, and a SIGKILL and immediate restart of one of those nodes. Skips what the machine cannot do (no root
 * for the tmpfs, no nats-server), saying so.
 *
 * It asserts the invariants, never speeds: every acknowledged write is in the log exactly once, no
 * command is held by two peers, every acked result reads back, no request stalls, no restart right
 * after a SIGKILL is refused, and no other violation was found.
 */
import { describe, expect, it } from "vitest"
import { runChaos } from "../../chaos/harness.js"
import { formatReport } from "../../chaos/report.js"

describe("chaos (smoke: one fault of each kind under load)", () => {
  it("loses and doubles nothing acknowledged, hands no command to two peers, never stalls, restarts at once", async () => {
    const lines: Array<string> = []
    const started = Date.now()
    const result = await runChaos({
      // The schedule is injected whole however long its faults take; the duration only adds calm.
      durationMs: 6_000,
      gapMs: [500, 1_500],
      schedule: [
        "disk full + broker SIGKILL + restart",
        "nats-server kill -9 + restart",
        // Without the tmpfs or the cluster, a SIGKILL of the file broker stands in for what cannot run.
        { kind: "broker SIGKILL + restart", target: "node-a" }
      ],
      drainMs: 8_000,
      // Every killed broker stays a zombie 4–6 s (its parent reaps it late, as npm may): the
      // restart, which reaches the data-dir lock within about 2 s, meets it.
      zombieMs: [4_000, 6_000],
      log: (line) => lines.push(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`)
    })
    const report = formatReport(result, { command: "test/chaos/chaos-smoke.test.ts", seed: 0, loadBefore: [] })
    const context = `\n${lines.join("\n")}\n\n${report}`
    for (const skip of result.skipped) console.warn(`chaos smoke: ${skip}`)
    console.log(
      `chaos smoke: ${result.faults.map((f) => `${f.kind} (${f.target})`).join(", ")}; ` +
        result.verdicts.map((v) => `${v.backend}: ${v.acked} writes acked, ${v.events} events, ${v.deliveriesChecked} deliveries checked`).join("; ") +
        `; ${[...result.drops.values()].reduce((a, b) => a + b, 0)} client drops; ${Math.round(result.seconds)} s`
    )

    // Faults did happen, under load that was acknowledged.
    expect(result.faults.length, context).toBeGreaterThanOrEqual(2)
    expect([...result.drops.values()].reduce((a, b) => a + b, 0), context).toBeGreaterThan(0)
    for (const verdict of result.verdicts) {
      expect(verdict.acked, `${verdict.backend}: writes acknowledged${context}`).toBeGreaterThan(50)
      expect(verdict.deliveriesChecked, `${verdict.backend}: deliveries${context}`).toBeGreaterThan(0)
    }
    // The invariants.
    for (const verdict of result.verdicts) {
      expect(verdict.lost, `${verdict.backend}: acknowledged writes lost${context}`).toBe(0)
      expect(verdict.duplicated, `${verdict.backend}: writes stored twice${context}`).toBe(0)
      expect(verdict.doubleHolders, `${verdict.backend}: commands held by two peers${context}`).toBe(0)
      expect(verdict.acksFromNonHolders, `${verdict.backend}: acks from non-holders${context}`).toBe(0)
      expect(verdict.ackedResultsUnreadable, `${verdict.backend}: acked results unreadable${context}`).toBe(0)
    }
    expect(result.requests.stalls, `stalls${context}`).toBe(0)
    expect(result.restarts.refusedByLock, `restarts refused right after a SIGKILL${context}`).toBe(0)
    expect(Object.fromEntries(result.findings.counts), `invariant violations${context}`).toEqual({})
  }, 180_000)
})
