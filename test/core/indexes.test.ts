import { describe, expect, it } from "vitest"
import { commandStatus, commandStatuses } from "../../src/core/machines/command.js"
import { Projection } from "../../src/core/projection.js"
import { decodeCheckpoint, encodeCheckpoint } from "../../src/core/checkpointCodec.js"
import { generateLog } from "./generate.js"

/** What the kept indexes answer, worked out the slow way: a walk over every command. */
const byWalking = (projection: Projection) => {
  const all = [...projection.commands.values()]
  const counts = Object.fromEntries(commandStatuses.map((status) => [status, 0]))
  for (const command of all) counts[commandStatus(command)]!++
  return {
    counts,
    recent: all.map((command) => command.context.id).reverse(),
    active: all
      .filter((command) => ["pending", "delivered"].includes(commandStatus(command)))
      .map((command) => command.context.id)
      .sort()
  }
}

const byIndexes = (projection: Projection) => ({
  counts: projection.commandCounts(),
  recent: [...projection.recentCommands()].map((command) => command.context.id),
  active: [...projection.activeCommands()].map((command) => command.context.id).sort()
})

describe("the projection's command indexes (counts, send order, unsettled)", () => {
  const events = generateLog({ seed: 777, count: 400, resetAt: 260 })

  it("agree with a walk over every command after every event, through a reset", () => {
    const projection = new Projection()
    for (const event of events) {
      projection.apply(event)
      expect(byIndexes(projection), `seq ${event.seq}`).toEqual(byWalking(projection))
    }
  })

  it("are rebuilt the same from a checkpoint", () => {
    for (const k of [0, 120, 259, 261, 400]) {
      const restored = Projection.fromCheckpoint(decodeCheckpoint(encodeCheckpoint(Projection.replay(events.slice(0, k)).checkpoint())))
      expect(byIndexes(restored), `k = ${k}`).toEqual(byWalking(restored))
      for (const event of events.slice(k)) restored.apply(event)
      expect(byIndexes(restored), `k = ${k}, then the rest`).toEqual(byWalking(restored))
    }
  })
})
