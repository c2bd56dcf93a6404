import { nuid, type NatsConnection } from "@nats-io/transport-node"
import type { SignOfLife, SignsOfLife } from "./EventLog.js"

/**
 * Liveness gossip beside the JetStream log (EventLogService.signsOfLife): plain core NATS messages,
 * never stored. Every live peer's sign of life used to be a `peer.heartbeat` in the stream every
 * ~15 s, only so that the other nodes' sweepers would not find it stale; a message nobody keeps
 * does that job at no cost to the log.
 *
 * The subject is under a prefix of its own, not under the stream's subject: the stream captures
 * exactly one subject (checked at start, jetstreamStream.ts), and `gossipSubject` is refused when that
 * subject would match it, so a sign of life can never become a message of the log.
 */
export const gossipPrefix = "claude_ipc_broker_liveness"

/** The subject the nodes of one stream gossip on (stream names hold no dots or wildcards). */
export const gossipSubject = (stream: string) => `${gossipPrefix}.${stream}`

/** Whether a subscription/stream subject `pattern` (with `*` and `>`) matches the literal `subject`. */
export const subjectMatches = (pattern: string, subject: string): boolean => {
  const want = pattern.split(".")
  const have = subject.split(".")
  for (let i = 0; i < want.length; i++) {
    if (want[i] === ">") return have.length > i
    if (i >= have.length) return false
    if (want[i] !== "*" && want[i] !== have[i]) return false
  }
  return want.length === have.length
}

/** Bytes of one gossip message at most (well under any server's max_payload; many small beat one huge). */
const maxMessageBytes = 64 * 1024

/** The wire form: who sent it (to skip its own), and the signs. */
interface Gossip {
  readonly node: string
  readonly seen: ReadonlyArray<SignOfLife>
}

/** Signs of life split into bodies of at most `limit` bytes each (a sign larger than that alone is dropped). */
export const encodeGossip = (node: string, signs: ReadonlyArray<SignOfLife>, limit: number): Array<string> => {
  const bodies: Array<string> = []
  const head = `{"node":${JSON.stringify(node)},"seen":[`
  const overhead = Buffer.byteLength(head, "utf8") + 2
  let parts: Array<string> = []
  let size = overhead
  for (const sign of signs) {
    const part = JSON.stringify([sign[0], sign[1], Math.max(0, Math.round(sign[2]))])
    const bytes = Buffer.byteLength(part, "utf8") + 1
    if (overhead + bytes > limit) continue
    if (size + bytes > limit) {
      bodies.push(head + parts.join(",") + "]}")
      parts = []
      size = overhead
    }
    parts.push(part)
    size += bytes
  }
  if (parts.length > 0) bodies.push(head + parts.join(",") + "]}")
  return bodies
}

/** A gossip body, or undefined for anything else (anyone may publish there: what is not gossip is ignored). */
export const decodeGossip = (text: string): Gossip | undefined => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof body !== "object" || body === null) return undefined
  const { node, seen } = body as Record<string, unknown>
  if (typeof node !== "string" || !Array.isArray(seen)) return undefined
  const signs: Array<SignOfLife> = []
  for (const sign of seen) {
    if (!Array.isArray(sign) || sign.length !== 3) continue
    const [project, peerId, ageMs] = sign as Array<unknown>
    if (typeof project !== "string" || typeof peerId !== "string" || typeof ageMs !== "number" || !Number.isFinite(ageMs)) continue
    signs.push([project, peerId, Math.max(0, ageMs)])
  }
  return { node, seen: signs }
}

/** The gossip channel of one node, and what the log's connection watcher tells it. */
export interface GossipChannel {
  readonly signsOfLife: SignsOfLife
  /** The connection is back: listeners may have missed gossip meanwhile. */
  readonly reconnected: () => void
}

export const makeGossipChannel = (
  nc: NatsConnection,
  subject: string,
  maxPayload: number,
  connected: () => boolean
): GossipChannel => {
  const node = nuid.next()
  const limit = Math.max(256, Math.min(maxMessageBytes, maxPayload - 1024))
  const reconnectListeners = new Set<() => void>()

  const publish = (signs: ReadonlyArray<SignOfLife>): void => {
    if (signs.length === 0 || !connected()) return
    for (const body of encodeGossip(node, signs, limit)) {
      try {
        nc.publish(subject, body)
      } catch {
        return // closed or draining: gossip is best effort
      }
    }
  }

  const listen = (heard: (signs: ReadonlyArray<SignOfLife>, receivedAt: number) => void, reconnected: () => void) => {
    const subscription = nc.subscribe(subject, {
      callback: (error, message) => {
        if (error !== null) return
        const receivedAt = Date.now()
        const gossip = decodeGossip(message.string())
        if (gossip === undefined || gossip.node === node || gossip.seen.length === 0) return
        heard(gossip.seen, receivedAt)
      }
    })
    reconnectListeners.add(reconnected)
    return () => {
      reconnectListeners.delete(reconnected)
      try {
        subscription.unsubscribe()
      } catch {
        // already closed
      }
    }
  }

  return {
    signsOfLife: { publish, listen, connected },
    reconnected: () => {
      for (const listener of reconnectListeners) listener()
    }
  }
}
