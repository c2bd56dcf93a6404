import type { BrokerEvent, StoredEvent } from "../core/events.js"
import { paint, shortTime, type Paint } from "./paint.js"
import { noPeers, who, type PeerLookup } from "./peerNames.js"

/**
 * One event as one terminal line: seq, time, type, and the fields a person looks for. Peers are
 * named by role (and label) first, their id second, as far as `peers` knows them.
 */

const json = (value: unknown, max = 120): string => {
  const text = JSON.stringify(value) ?? "null"
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** The key fields of an event this version knows; the data as JSON for one it does not. */
const eventSummary = (stored: StoredEvent, p: Paint, peers: PeerLookup): string => {
  const event = stored as BrokerEvent
  const named = (id: string) => who(id, peers(id), p)
  const by = (id: string | null) => (id === null ? "" : ` by ${named(id)}`)
  switch (event.type) {
    case "peer.connected": {
      const { peerId, role, capabilities, name } = event.data
      return `${who(peerId, { role, name }, p)}${capabilities.length === 0 ? "" : ` [${capabilities.join(",")}]`}`
    }
    case "peer.heartbeat":
    case "peer.went_stale":
      return named(event.data.peerId)
    case "peer.went_offline":
      return `${named(event.data.peerId)} (${event.data.reason})`
    case "command.sent": {
      const { commandId, from, target, action, params, ttlMs } = event.data
      const ttl = ttlMs === null ? "" : ` ttl ${ttlMs} ms`
      const held = event.data.held === undefined ? "" : ` HELD (${event.data.held})`
      return `${commandId} ${named(from)} → ${named(target)}: ${action}${params === null ? "" : ` ${json(params)}`}${ttl}${held}`
    }
    case "command.delivered":
      return `${event.data.commandId} → ${named(event.data.peerId)} (lease ${event.data.leaseMs} ms)`
    case "command.acked": {
      const { commandId, ok, result } = event.data
      return `${commandId} ${ok ? "ok" : "FAILED"}${by(event.data.by)}${result === null ? "" : ` ${json(result)}`}`
    }
    case "command.lease_expired":
    case "command.expired":
      return event.data.commandId
    case "command.cancelled":
    case "command.redelivered":
    case "command.approved":
    case "command.rejected":
      return `${event.data.commandId}${by(event.data.by)}`
    case "command.dead":
      return `${event.data.commandId} after ${event.data.deliveries} deliveries (${event.data.reason})`
    case "message.sent":
      return `${event.data.channel} ${event.data.from === null ? "-" : named(event.data.from)}: ${json(event.data.message)}`
    case "signal.fired":
      return `${event.data.name}${by(event.data.by)}${event.data.data === null ? "" : ` ${json(event.data.data)}`}`
    case "signal.cleared":
      return event.data.name
    case "broker.reset":
      return `everything cleared${by(event.data.by)}`
    case "token.minted":
      // Not the hash: a line a person reads needs the name and the rights.
      return `${event.data.name}: ${event.data.role} of ${event.data.project}${event.data.boundRole === undefined ? "" : `, bound to role ${event.data.boundRole}`}`
    case "token.revoked":
      return event.data.name
    default:
      return json(stored.data)
  }
}

const typeColour = (p: Paint, type: string) => {
  const family = type.slice(0, type.indexOf("."))
  const colour =
    family === "peer" ? p.blue : family === "command" ? p.magenta : family === "message" ? p.cyan : family === "signal" ? p.yellow : p.red
  return colour(type.padEnd(21))
}

export const eventLine = (event: StoredEvent, p: Paint = paint(false), peers: PeerLookup = noPeers): string =>
  `${p.dim(String(event.seq).padStart(6))} ${p.dim(shortTime(event.at))} ${typeColour(p, event.type)} ${eventSummary(event, p, peers)}`

/** The peer ids an event names, for looking them up before its line is printed. */
export const peerIdsOf = (stored: StoredEvent): ReadonlyArray<string | null> => {
  const event = stored as BrokerEvent
  switch (event.type) {
    case "peer.heartbeat":
    case "peer.went_stale":
    case "peer.went_offline":
      return [event.data.peerId]
    case "command.sent":
      return [event.data.from, event.data.target]
    case "command.delivered":
      return [event.data.peerId]
    case "command.acked":
    case "command.cancelled":
    case "command.redelivered":
    case "command.approved":
    case "command.rejected":
    case "signal.fired":
    case "broker.reset":
      return [event.data.by]
    case "message.sent":
      return [event.data.from]
    default:
      return []
  }
}

/** `command.*`, `peer.went_*`, `signal.fired`: `*` any run of characters, `?` one. */
export const typeMatcher = (globs: ReadonlyArray<string>): ((type: string) => boolean) => {
  if (globs.length === 0) return () => true
  const patterns = globs.map(
    (glob) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`)
  )
  return (type) => patterns.some((pattern) => pattern.test(type))
}
