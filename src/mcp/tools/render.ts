import { peerStatus } from "../../core/machines/peer.js"
import type { ProjectState } from "../../core/projectView.js"
import { peerView, type CommandView, type MessageView, type PeerView, type SignalView } from "../../core/views.js"
import type { Following } from "../inbox.js"

/** How the tools write peers, commands, messages and signals for the model: short lines. */

export const json = (value: unknown): string => {
  const text = JSON.stringify(value)
  return text === undefined ? "null" : text
}

export const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

export interface PeerBrief {
  readonly id: string
  readonly role: string
  readonly name: string | null
  readonly status: PeerView["status"]
}

export const brief = (peer: PeerView): PeerBrief => ({ id: peer.id, role: peer.role, name: peer.name, status: peer.status })

export const peerLine = (peer: PeerBrief) =>
  `${peer.role} (${peer.id}${peer.name ? `, "${peer.name}"` : ""}${peer.status === "online" ? "" : `, ${peer.status}`})`

/** A peer's role by its id. */
export type Roles = Pick<ReadonlyMap<string, string>, "get">

/** "mcp-abc (backend)" when the sender is a known peer, else the raw value. */
export const who = (id: string | null, roles: Roles) => {
  const role = id === null ? undefined : roles.get(id)
  return id === null ? "someone" : role === undefined ? id : `${id} (${role})`
}

/** Roles from peer views already at hand. */
export const roleIndex = (peers: ReadonlyArray<PeerView>): Roles => new Map(peers.map((peer) => [peer.id, peer.role]))

/**
 * Roles looked up in the projection as a line needs them: a tool call names a few peers, and a
 * view of every peer per call made a thousand sessions' calls cost a thousand views each.
 */
export const rolesIn = (projection: ProjectState): Roles => ({ get: (id) => projection.peers.get(id)?.context.role })

/** The peers not offline that `match` picks, briefly; only those are turned into views. */
export const presentPeers = (projection: ProjectState, match: (id: string, role: string) => boolean): Array<PeerBrief> => {
  const found: Array<PeerBrief> = []
  for (const snapshot of projection.peers.values()) {
    if (match(snapshot.context.id, snapshot.context.role) && peerStatus(snapshot) !== "offline") found.push(brief(peerView(snapshot)))
  }
  return found
}

export const commandLine = (command: CommandView, roles: Roles) =>
  `${command.id} from ${who(command.from, roles)}: action ${json(command.action)}, params ${json(command.params)}`

export const outcomeLine = (command: CommandView, roles: Roles) => {
  switch (command.status) {
    case "acked":
      return `${command.id} done by ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "failed":
      return `${command.id} FAILED at ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "expired":
      return `${command.id} expired before anyone acked it`
    case "cancelled":
      return `${command.id} was cancelled`
    case "dead":
      return `${command.id} is DEAD after ${command.deliveries} deliveries (${command.deadReason}); a person may redeliver it`
    case "delivered":
      return `${command.id} is being worked on by ${who(command.deliveredTo, roles)}`
    case "held":
      return `${command.id} is HELD for a person's approval (${command.heldReason}); it is delivered only once approved`
    case "rejected":
      return `${command.id} was REJECTED by a person; it will not be delivered`
    case "pending":
      return `${command.id} is pending: nobody of target ${json(command.target)} has taken it yet`
  }
}

export const messageLine = (message: MessageView, roles: Roles) =>
  `#${message.id} ${who(message.from, roles)}: ${json(message.data)}`

export const signalLine = (signal: SignalView) =>
  signal.fired
    ? `signal ${json(signal.name)} is SET${signal.data === null ? "" : ` with data ${json(signal.data)}`}`
    : `signal ${json(signal.name)} is not set`

/** The channels and signals a session follows, as tools report them. */
export const followed = (following: Following) => ({
  channels: [...following.channels].map(([channel, lastSeenId]) => ({ channel, lastSeenId })),
  signals: [...following.signals.keys()]
})
