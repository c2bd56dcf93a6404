import type { BrokerEvent } from "../../src/core/events.js"

/**
 * One event as a sentence a person reads in the activity feed: "backend (peer-x) acked cmd-y: ok".
 * Pure: who a peer id is comes from the `Names` the caller passes (the projection at the cursor).
 */

export type Category = "peer" | "command" | "channel" | "signal" | "broker"
/** How the feed colours the line: good news, bad news, worth a look, or routine. */
export type Tone = "good" | "bad" | "warn" | "info" | "quiet"

export interface Described {
  readonly text: string
  readonly category: Category
  readonly tone: Tone
}

/** What the describer may know about ids: a peer's role and label, a command's action. */
export interface Names {
  readonly roleOf: (peerId: string) => string | undefined
  /** The name a peer gave itself when it connected, if any. */
  readonly labelOf?: (peerId: string) => string | null | undefined
  readonly actionOf: (commandId: string) => string | undefined
  /** The peer a command is held by (to name the acker when the ack did not say who it was). */
  readonly holderOf: (commandId: string) => string | null | undefined
}

export const noNames: Names = { roleOf: () => undefined, actionOf: () => undefined, holderOf: () => undefined }

/** A peer as people know it, role and label first, id second: "backend “api” (peer-x)". */
export const peerLabel = (peer: { readonly id: string; readonly role: string; readonly name?: string | null }): string =>
  `${peer.role}${peer.name ? ` “${peer.name}”` : ""} (${peer.id})`

/** A peer id as people know it: "backend (peer-x)"; anything else (e.g. "human") as is. */
export const who = (id: string, names: Names): string => {
  const role = names.roleOf(id)
  return role === undefined || role === id ? id : peerLabel({ id, role, name: names.labelOf?.(id) })
}

/** What the log around an event says about it, beyond the event itself. */
export interface Context {
  /** A heartbeat of a peer that was stale or offline: it came back. Others are routine. */
  readonly revived?: boolean
}

/** A payload in a line: strings as they are, anything else as compact JSON, cut to `max` characters. */
export const summarize = (value: unknown, max = 80): string => {
  let text: string
  let cut = false
  if (value === undefined || value === null) return ""
  if (typeof value === "string") {
    // A long string is cut before its spaces are collapsed: a 1 MB message costs what a line shows.
    cut = value.length > max * 4
    text = cut ? value.slice(0, max * 4) : value
  } else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      text = String(value)
    }
  }
  text = text.replace(/\s+/g, " ").trim()
  return text.length > max ? `${text.slice(0, max - 1)}…` : cut ? `${text}…` : text
}

const withPayload = (sentence: string, value: unknown, joiner = ": "): string => {
  const payload = summarize(value)
  return payload === "" ? sentence : `${sentence}${joiner}${payload}`
}

/** "90 s", "5 min", "2 h": durations as people say them. */
export const duration = (ms: number): string => {
  if (ms < 1_000) return `${ms} ms`
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`
  return `${Math.round(ms / 3_600_000)} h`
}

const commandLabel = (commandId: string, names: Names): string => {
  const action = names.actionOf(commandId)
  return action === undefined ? commandId : `${commandId} (${action})`
}

const offlineReasons = { timeout: "timed out", disconnected: "disconnected", session_closed: "its session closed" } as const

export const describe = (event: BrokerEvent, names: Names = noNames, context: Context = {}): Described => {
  switch (event.type) {
    case "peer.connected": {
      const { peerId, role, capabilities, name } = event.data
      const can = capabilities.length > 0 ? ` · can ${capabilities.join(", ")}` : ""
      return { text: `${peerLabel({ id: peerId, role, name })} connected${can}`, category: "peer", tone: "good" }
    }
    case "peer.heartbeat":
      return context.revived
        ? { text: `${who(event.data.peerId, names)} is back online (a sign of life)`, category: "peer", tone: "good" }
        : { text: `${who(event.data.peerId, names)} is alive (heartbeat)`, category: "peer", tone: "quiet" }
    case "peer.went_stale":
      return { text: `${who(event.data.peerId, names)} went stale: no sign of life lately`, category: "peer", tone: "warn" }
    case "peer.went_offline": {
      const reason = offlineReasons[event.data.reason] ?? event.data.reason
      return { text: `${who(event.data.peerId, names)} went offline: ${reason}`, category: "peer", tone: "bad" }
    }
    case "command.sent": {
      const { commandId, from, target, action, params, ttlMs, held } = event.data
      const ttl = ttlMs === null ? "" : ` (expires in ${duration(ttlMs)})`
      const gate = held === undefined ? "" : held === "approval" ? ", held for a person's approval" : ", held by the loop guard for a person's approval"
      return {
        text: withPayload(`${who(from, names)} sent ${commandId} “${action}” to ${who(target, names)}${ttl}${gate}`, params, " with "),
        category: "command",
        tone: held === undefined ? "info" : "warn"
      }
    }
    case "command.delivered":
      return {
        text: `${who(event.data.peerId, names)} took ${commandLabel(event.data.commandId, names)} (lease ${duration(event.data.leaseMs)})`,
        category: "command",
        tone: "info"
      }
    case "command.acked": {
      const { commandId, ok, result, by } = event.data
      const acker = by ?? names.holderOf(commandId) ?? null
      const verb = ok ? "acked" : "failed"
      const subject = acker === null ? `${commandId} was ${ok ? "acked" : "reported failed"}` : `${who(acker, names)} ${verb} ${commandId}`
      return { text: withPayload(subject, result), category: "command", tone: ok ? "good" : "bad" }
    }
    case "command.lease_expired":
      return {
        text: `${commandLabel(event.data.commandId, names)}: lease ran out without an ack, back to pending`,
        category: "command",
        tone: "warn"
      }
    case "command.expired":
      return { text: `${commandLabel(event.data.commandId, names)} expired before anyone acked it`, category: "command", tone: "warn" }
    case "command.cancelled": {
      const by = event.data.by
      const label = commandLabel(event.data.commandId, names)
      return {
        text: by === null ? `${label} was cancelled` : `${who(by, names)} cancelled ${label}`,
        category: "command",
        tone: "warn"
      }
    }
    case "command.dead": {
      const { commandId, reason, deliveries } = event.data
      const why = reason === "lease_expired" ? "its lease ran out" : "its holder went offline"
      return {
        text: `${commandLabel(commandId, names)} is dead: ${why} after ${deliveries} deliveries; a person may redeliver or cancel it`,
        category: "command",
        tone: "bad"
      }
    }
    case "command.redelivered": {
      const by = event.data.by
      const label = commandLabel(event.data.commandId, names)
      return {
        text: by === null ? `${label} was redelivered: pending again` : `${who(by, names)} redelivered ${label}: pending again`,
        category: "command",
        tone: "info"
      }
    }
    case "command.approved":
    case "command.rejected": {
      const by = event.data.by
      const label = commandLabel(event.data.commandId, names)
      const approved = event.type === "command.approved"
      const outcome = approved ? "approved: pending" : "rejected: it will not be delivered"
      return {
        text: by === null ? `${label} was ${outcome}` : `${who(by, names)} ${approved ? "approved" : "rejected"} ${label}`,
        category: "command",
        tone: approved ? "good" : "bad"
      }
    }
    case "message.sent": {
      const { channel, from, message } = event.data
      const sender = from === null ? "someone" : who(from, names)
      return { text: withPayload(`${sender} posted in #${channel}`, message), category: "channel", tone: "info" }
    }
    case "channel.trimmed": {
      const { channel, beforeSeq, reason } = event.data
      const limit = reason === "max_age" ? "age" : "message count"
      return { text: `#${channel} trimmed by its ${limit} limit: messages sent before event ${beforeSeq} dropped`, category: "channel", tone: "quiet" }
    }
    case "signal.fired": {
      const { name, data, by } = event.data
      const subject = by === null ? `signal ${name} fired` : `${who(by, names)} fired signal ${name}`
      return { text: withPayload(subject, data), category: "signal", tone: "good" }
    }
    case "signal.cleared":
      return { text: `signal ${event.data.name} cleared: armed again`, category: "signal", tone: "quiet" }
    case "broker.reset":
      return {
        text: event.data.by === null ? "the broker was reset: all state cleared" : `${who(event.data.by, names)} reset the broker: all state cleared`,
        category: "broker",
        tone: "bad"
      }
    default: {
      const unknown = event as { type: string }
      return { text: `${unknown.type}`, category: "broker", tone: "quiet" }
    }
  }
}

/** The category an event type belongs to, for the feed's filter. */
export const categoryOf = (type: string): Category =>
  type.startsWith("peer.")
    ? "peer"
    : type.startsWith("command.")
      ? "command"
      : type.startsWith("message.") || type.startsWith("channel.")
        ? "channel"
        : type.startsWith("signal.")
          ? "signal"
          : "broker"
