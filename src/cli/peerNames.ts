import { Effect } from "effect"
import type { PeerView } from "../core/views.js"
import { request, type Connection } from "./client.js"
import { paint, type Paint } from "./paint.js"

/**
 * Peers as a person knows them. An MCP session's peer id (`mcp-r2mrx25t2a68`) says nothing; its
 * role and label do. The CLI's `tail` and `read` show senders, targets and "by" as role (and
 * label) first, the id second, from the peers the broker knows (GET /peers) and, in a tail, the
 * `peer.connected` events as they pass.
 */

export interface PeerLabel {
  readonly role: string
  readonly name: string | null
}

/** What a line knows about peer ids: the label of a known one, undefined for anything else. */
export type PeerLookup = (id: string) => PeerLabel | undefined

export const noPeers: PeerLookup = () => undefined

/**
 * `reviewer "Alice" (mcp-r2mrx25t2a68)`, `worker (w-1)`; a sender that is not a known peer id (a
 * `--from` name such as `ci`, a role as a command's target) as it is. A peer whose id is its role
 * and has no label is named once. `emphasis` colours the name a reader looks for.
 */
export const who = (
  id: string,
  label: PeerLabel | undefined,
  p: Paint = paint(false),
  emphasis: (text: string) => string = String
): string => {
  if (label === undefined || (label.role === id && label.name === null)) return emphasis(id)
  return `${emphasis(label.role)}${label.name === null ? "" : ` "${label.name}"`} ${p.dim(`(${id})`)}`
}

/**
 * The peer ids a command looks up, learnt from GET /peers when one it meets is new: at most one
 * request per batch of new ids, and an id the broker does not know (a `--from` name) is not asked
 * for again. A failed lookup leaves the ids as they are: names are a help, not the output.
 */
export interface PeerDirectory {
  readonly lookup: PeerLookup
  /** Learn the labels of `ids` not seen yet (one GET /peers for all of them). */
  readonly learn: (ids: Iterable<string | null>) => Effect.Effect<void>
  /** A peer seen connecting (a `peer.connected` event): its label from now on. */
  readonly remember: (id: string, label: PeerLabel) => void
}

export const peerDirectory = (fetchPeers: Effect.Effect<ReadonlyArray<PeerView>, unknown>): PeerDirectory => {
  const labels = new Map<string, PeerLabel>()
  const asked = new Set<string>()
  return {
    lookup: (id) => labels.get(id),
    remember: (id, label) => {
      labels.set(id, label)
    },
    learn: (ids) =>
      Effect.suspend(() => {
        const fresh = [...new Set(ids)].filter((id): id is string => id !== null && !labels.has(id) && !asked.has(id))
        if (fresh.length === 0) return Effect.void
        for (const id of fresh) asked.add(id)
        return fetchPeers.pipe(
          Effect.map((peers) => {
            // Every peer the answer names, not only the fresh ids: the next ones are likely among them.
            for (const peer of peers) if (!labels.has(peer.id)) labels.set(peer.id, { role: peer.role, name: peer.name })
          }),
          Effect.orElse(() => Effect.void)
        )
      })
  }
}

/** A directory that asks the broker at `broker`. */
export const brokerPeers = (broker: Connection): PeerDirectory =>
  peerDirectory(Effect.map(request<{ peers: ReadonlyArray<PeerView> }>(broker, "GET", "/peers"), ({ peers }) => peers))
