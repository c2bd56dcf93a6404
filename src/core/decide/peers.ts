import { Either } from "effect"
import { NotFound } from "../errors.js"
import { peerStatus, type PeerSnapshot } from "../machines/peer.js"
import { deadLetters } from "./commands.js"
import { decided, deciderOf, unchanged, type Decision, type DecisionState } from "./decision.js"

/** A session joins (or rejoins under its id, possibly with another role). The id is chosen before deciding. */
export interface Connect {
  readonly type: "Connect"
  readonly peerId: string
  readonly role: string
  readonly capabilities: ReadonlyArray<string>
  readonly name: string | null
}

/**
 * A sign of life. Whether it is a fact for the log (back online, or due on a shared log) is the
 * broker's memory of last-seen times, kept out of the log; `news` carries its answer.
 */
export interface Heartbeat {
  readonly type: "Heartbeat"
  readonly peerId: string
  readonly news: boolean
}

export interface Disconnect {
  readonly type: "Disconnect"
  readonly peerId: string
  readonly reason: "disconnected" | "session_closed"
  /** The broker's `--max-deliveries`: held commands delivered that often die rather than return. */
  readonly maxDeliveries: number
}

export type PeerCommand = Connect | Heartbeat | Disconnect

/** Every request that names a peer needs one the log knows. */
export const requirePeer = (state: DecisionState, peerId: string): Either.Either<PeerSnapshot, NotFound> => {
  const peer = state.peers.get(peerId)
  return peer ? Either.right(peer) : Either.left(new NotFound({ message: `no peer with id '${peerId}'` }))
}

export const connect = ({ peerId, role, capabilities, name }: Connect): Decision =>
  decided({ type: "peer.connected", data: { peerId, role, capabilities: [...capabilities], name } })

export const heartbeat = ({ peerId, news }: Heartbeat, state: DecisionState): Decision<NotFound> =>
  Either.flatMap(requirePeer(state, peerId), () => (news ? decided({ type: "peer.heartbeat", data: { peerId } }) : unchanged))

/**
 * Disconnecting an offline peer is accepted and records nothing. The commands the peer holds that
 * were delivered `maxDeliveries` times die first, in the same append (commands.ts `deadLetters`).
 */
export const disconnect = ({ peerId, reason, maxDeliveries }: Disconnect, state: DecisionState): Decision<NotFound> =>
  Either.flatMap(requirePeer(state, peerId), (peer) =>
    peerStatus(peer) === "offline"
      ? unchanged
      : decided(...deadLetters(state, peerId, maxDeliveries, "holder_offline"), { type: "peer.went_offline", data: { peerId, reason } })
  )

export const decide = deciderOf<PeerCommand>()({ Connect: connect, Heartbeat: heartbeat, Disconnect: disconnect })
