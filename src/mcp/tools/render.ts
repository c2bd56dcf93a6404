import type { CommandView, MessageView, PeerView, SignalView } from "../../core/views.js"
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

/** "mcp-abc (backend)" when the sender is a known peer, else the raw value. */
export const who = (id: string | null, roles: ReadonlyMap<string, string>) =>
  id === null ? "someone" : roles.has(id) ? `${id} (${roles.get(id)})` : id

export const roleIndex = (peers: ReadonlyArray<PeerView>) => new Map(peers.map((peer) => [peer.id, peer.role]))

export const commandLine = (command: CommandView, roles: ReadonlyMap<string, string>) =>
  `${command.id} from ${who(command.from, roles)}: action ${json(command.action)}, params ${json(command.params)}`

export const outcomeLine = (command: CommandView, roles: ReadonlyMap<string, string>) => {
  switch (command.status) {
    case "acked":
      return `${command.id} done by ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "failed":
      return `${command.id} FAILED at ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "expired":
      return `${command.id} expired before anyone acked it`
    case "cancelled":
      return `${command.id} was cancelled`
    case "delivered":
      return `${command.id} is being worked on by ${who(command.deliveredTo, roles)}`
    case "pending":
      return `${command.id} is pending: nobody of target ${json(command.target)} has taken it yet`
  }
}

export const messageLine = (message: MessageView, roles: ReadonlyMap<string, string>) =>
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
