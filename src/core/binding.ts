import { Either } from "effect"
import { TokenRoleMismatch } from "./errors.js"
import type { PeerSnapshot } from "./machines/peer.js"

/**
 * Identity for tokens bound to a role (an agent token minted with `boundRole`): whatever a request
 * made with one says it is — the peer it connects, the peer id in its path, its `X-Peer-Id`, `from`
 * — must be a peer of that role. A process that got hold of the token of the `backend` agent can
 * act as a `backend` peer, never as the `reviewer`, nor as someone who is no peer at all.
 */

const mismatch = (message: string) => Either.left(new TokenRoleMismatch({ message }))

/** Connecting (or reconnecting) a peer: in the bound role, and not taking over a peer id of another role. */
export const mayConnect = (
  boundRole: string | null,
  peers: ReadonlyMap<string, PeerSnapshot>,
  request: { readonly id?: string | undefined; readonly role: string }
): Either.Either<void, TokenRoleMismatch> => {
  if (boundRole === null) return Either.void
  if (request.role !== boundRole) {
    return mismatch(`this token is bound to role '${boundRole}': it cannot connect a peer as '${request.role.slice(0, 40)}'`)
  }
  const existing = request.id === undefined ? undefined : peers.get(request.id)
  if (existing !== undefined && existing.context.role !== boundRole) {
    return mismatch(`this token is bound to role '${boundRole}': peer '${request.id}' is a '${existing.context.role}'`)
  }
  return Either.void
}

/** Acting as `peerId` (null: as nobody in particular, which binds nothing). */
export const mayActAs = (
  boundRole: string | null,
  peers: ReadonlyMap<string, PeerSnapshot>,
  peerId: string | null
): Either.Either<void, TokenRoleMismatch> => {
  if (boundRole === null || peerId === null) return Either.void
  const peer = peers.get(peerId)
  if (peer === undefined) {
    return mismatch(`this token is bound to role '${boundRole}': it can act only as a connected peer of that role, and '${peerId.slice(0, 40)}' is no peer`)
  }
  if (peer.context.role !== boundRole) {
    return mismatch(`this token is bound to role '${boundRole}': peer '${peerId}' is a '${peer.context.role}'`)
  }
  return Either.void
}
