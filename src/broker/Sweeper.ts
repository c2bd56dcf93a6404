import { Effect, Layer, Schedule } from "effect"
import * as Commands from "../core/decide/commands.js"
import type { EventDraft } from "../core/events.js"
import { commandStatus } from "../core/machines/command.js"
import { peerStatus, type PeerSnapshot } from "../core/machines/peer.js"
import type { ProjectState } from "../core/projectView.js"
import { Broker, type BrokerService } from "./Broker.js"
import { BrokerConfig, type BrokerConfigShape } from "./Config.js"
import { retentionDecisions } from "./retention.js"

/**
 * The only place that reads the wall clock to change state. Machines have no timers: the sweeper
 * decides (this peer is stale, this lease lapsed) and appends the decision, so replay is the same
 * tomorrow whatever the clock or today's thresholds say.
 */
export const sweepDecisions = (
  projection: ProjectState,
  now: number,
  config: BrokerConfigShape,
  activeWaits: (peerId: string) => number,
  /** The latest sign of life (the broker keeps it in memory, see liveness.ts); by default the log's. */
  lastSeen: (peer: PeerSnapshot) => number = (peer) => Date.parse(peer.context.lastSeenAt)
): Array<EventDraft> => {
  const decisions: Array<EventDraft> = []
  for (const peer of projection.peers.values()) {
    const status = peerStatus(peer)
    if (status === "offline" || activeWaits(peer.context.id) > 0) continue
    const silentFor = now - lastSeen(peer)
    if (silentFor >= config.offlineAfterMs) {
      // What it holds and may not be delivered again dies first; the rest returns to pending.
      decisions.push(...Commands.deadLetters(projection, peer.context.id, config.maxDeliveries, "holder_offline"))
      decisions.push({ type: "peer.went_offline", data: { peerId: peer.context.id, reason: "timeout" } })
    } else if (status === "online" && silentFor >= config.staleAfterMs) {
      decisions.push({ type: "peer.went_stale", data: { peerId: peer.context.id } })
    }
  }
  for (const command of projection.activeCommands()) {
    const status = commandStatus(command)
    const { id, ttlMs, ttlFrom, deliveredAt, leaseMs } = command.context
    if (ttlMs !== null && now >= Date.parse(ttlFrom) + ttlMs) {
      decisions.push({ type: "command.expired", data: { commandId: id } })
    } else if (status === "delivered" && leaseMs !== null && deliveredAt !== null && now >= Date.parse(deliveredAt) + leaseMs) {
      decisions.push(Commands.leaseLapsed(command, config.maxDeliveries))
    }
  }
  return decisions
}

/**
 * A peer parked in a wait is alive, but only the node holding the wait knows it: that node notes it
 * (in memory), so that its own sweeper does not find the peer silent once a wait longer than the
 * offline threshold ends (on a shared log with gossip, the other nodes hear of it that way, see
 * liveness.ts); and records a heartbeat when `note` says the log must have one — a stale peer
 * coming back, or, on a shared log without gossip, before other nodes' sweepers could find it stale.
 */
export const keepAliveDecisions = (
  projection: ProjectState,
  now: number,
  activeWaits: (peerId: string) => number,
  note: (peer: PeerSnapshot, now: number) => boolean
): Array<EventDraft> => {
  const decisions: Array<EventDraft> = []
  for (const peer of projection.peers.values()) {
    if (activeWaits(peer.context.id) === 0 || peerStatus(peer) === "offline") continue
    if (note(peer, now)) decisions.push({ type: "peer.heartbeat", data: { peerId: peer.context.id } })
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
    const attempt = (project: BrokerService) =>
      Effect.suspend(() => {
        const { projection, liveness } = project
        const seq = projection.seq
        const now = Date.now()
        const decisions = [
          ...keepAliveDecisions(projection, now, project.activeWaits, (peer, at) => liveness.note(peer, at)),
          ...sweepDecisions(projection, now, config, project.activeWaits, (peer) => liveness.lastSeen(peer)),
          ...retentionDecisions(projection, now, config)
        ]
        return decisions.length === 0 ? Effect.succeed(true) : project.recordIfHead(seq, decisions)
      })
    // Each project on its own: its decisions are its events, and one project's failure is not another's.
    const sweepProject = (name: string) =>
      attempt(broker.project(name)).pipe(
        Effect.repeat({ until: (landed) => landed, times: maxAttemptsPerSweep - 1 }),
        Effect.catchAllCause((cause) => Effect.logWarning(`sweep of project '${name}' failed; trying again next round`, cause))
      )
    const sweep = Effect.suspend(() => Effect.forEach(broker.projects(), sweepProject, { discard: true }))
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(config.sweepIntervalMs)))
  })
)
