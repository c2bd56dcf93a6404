import { Effect, Layer, Schedule } from "effect"
import type { EventDraft } from "../core/events.js"
import { commandStatus } from "../core/machines/command.js"
import { peerStatus } from "../core/machines/peer.js"
import type { Projection } from "../core/projection.js"
import { Broker } from "./Broker.js"
import { BrokerConfig, type BrokerConfigShape } from "./Config.js"
import { retentionDecisions } from "./retention.js"

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
  for (const command of projection.activeCommands()) {
    const status = commandStatus(command)
    const { id, ttlMs, createdAt, deliveredAt, leaseMs } = command.context
    if (ttlMs !== null && now >= Date.parse(createdAt) + ttlMs) {
      decisions.push({ type: "command.expired", data: { commandId: id } })
    } else if (status === "delivered" && leaseMs !== null && deliveredAt !== null && now >= Date.parse(deliveredAt) + leaseMs) {
      decisions.push({ type: "command.lease_expired", data: { commandId: id } })
    }
  }
  return decisions
}

/**
 * A peer parked in a wait is alive, but only the node holding the wait knows it: that node records
 * a heartbeat before the peer could look stale — to other nodes' sweepers on a shared log, and to
 * its own once a wait longer than the offline threshold ends.
 */
export const keepAliveDecisions = (
  projection: Projection,
  now: number,
  config: BrokerConfigShape,
  activeWaits: (peerId: string) => number
): Array<EventDraft> => {
  const after = Math.max(1, Math.min(config.staleAfterMs / 2, config.staleAfterMs - 2 * config.sweepIntervalMs))
  const decisions: Array<EventDraft> = []
  for (const peer of projection.peers.values()) {
    if (activeWaits(peer.context.id) === 0) continue
    const status = peerStatus(peer)
    if (status === "stale" || (status === "online" && now - Date.parse(peer.context.lastSeenAt) >= after)) {
      decisions.push({ type: "peer.heartbeat", data: { peerId: peer.context.id } })
    }
  }
  return decisions
}

/** Rounds of deciding again when, on a shared log, another node appended while this one decided. */
const maxAttemptsPerSweep = 5

export const SweeperLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const broker = yield* Broker
    const config = yield* BrokerConfig
    // Every node sweeps. On a shared log each sweep's decisions are appended only if the log has not
    // moved since the state they were taken on (else decided again on the newer state), so two nodes
    // never both act on one state: no second lease expiry cutting short the next holder's lease.
    const attempt = Effect.suspend(() => {
      const { projection } = broker
      const seq = projection.seq
      const now = Date.now()
      const decisions = [
        ...keepAliveDecisions(projection, now, config, broker.activeWaits),
        ...sweepDecisions(projection, now, config, broker.activeWaits),
        ...retentionDecisions(projection, now, config)
      ]
      return decisions.length === 0 ? Effect.succeed(true) : broker.recordIfHead(seq, decisions)
    })
    const sweep = attempt.pipe(
      Effect.repeat({ until: (landed) => landed, times: maxAttemptsPerSweep - 1 }),
      Effect.catchAllCause((cause) => Effect.logWarning("sweep failed; trying again next round", cause))
    )
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(config.sweepIntervalMs)))
  })
)
