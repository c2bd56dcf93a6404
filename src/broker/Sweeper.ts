import { Effect, Layer, Schedule } from "effect"
import type { EventDraft } from "../core/events.js"
import { commandStatus } from "../core/machines/command.js"
import { peerStatus } from "../core/machines/peer.js"
import type { Projection } from "../core/projection.js"
import { Broker } from "./Broker.js"
import { BrokerConfig, type BrokerConfigShape } from "./Config.js"

/**
 * The only place that reads the wall clock to change state. Machines have no timers: the sweeper
 * decides (this peer is stale, this lease lapsed) and appends the decision, so replay is the same
 * tomorrow whatever the clock or today's thresholds say.
 */
export const sweepDecisions = (
  projection: Projection,
  now: number,
  config: BrokerConfigShape,
  activeWaits: (peerId: string) => number
): Array<EventDraft> => {
  const decisions: Array<EventDraft> = []
  for (const peer of projection.peers.values()) {
    const status = peerStatus(peer)
    if (status === "offline" || activeWaits(peer.context.id) > 0) continue
    const silentFor = now - Date.parse(peer.context.lastSeenAt)
    if (silentFor >= config.offlineAfterMs) {
      decisions.push({ type: "peer.went_offline", data: { peerId: peer.context.id, reason: "timeout" } })
    } else if (status === "online" && silentFor >= config.staleAfterMs) {
      decisions.push({ type: "peer.went_stale", data: { peerId: peer.context.id } })
    }
  }
  for (const command of projection.commands.values()) {
    const status = commandStatus(command)
    if (status !== "pending" && status !== "delivered") continue
    const { id, ttlMs, createdAt, deliveredAt, leaseMs } = command.context
    if (ttlMs !== null && now >= Date.parse(createdAt) + ttlMs) {
      decisions.push({ type: "command.expired", data: { commandId: id } })
    } else if (status === "delivered" && leaseMs !== null && deliveredAt !== null && now >= Date.parse(deliveredAt) + leaseMs) {
      decisions.push({ type: "command.lease_expired", data: { commandId: id } })
    }
  }
  return decisions
}

export const SweeperLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const broker = yield* Broker
    const config = yield* BrokerConfig
    const sweep = Effect.suspend(() => {
      const decisions = sweepDecisions(broker.projection, Date.now(), config, broker.activeWaits)
      return decisions.length === 0 ? Effect.void : Effect.asVoid(broker.record(decisions))
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("sweep failed; trying again next round", cause)))
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(config.sweepIntervalMs)))
  })
)
