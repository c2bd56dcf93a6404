import { commandStatus } from "../core/machines/command.js"
import type { SignalSnapshot } from "../core/machines/signal.js"
import type { ProjectState } from "../core/projectView.js"

/**
 * A session's inbox: the work waiting for it, read from the projection. Commands it could take
 * (pending for its id or its role), messages it has not read on the channels it subscribed to, and
 * signals it watches that fired since it last looked. Nothing here is stored in the log: what a
 * session follows, and how far it has read, is the session's own business and lives with it.
 */

/** What a session follows. Kept in the MCP session (or renewed by the stdio bridge after a restart). */
export interface Following {
  /** Channel → the last message id this session has seen there. */
  readonly channels: Map<string, number>
  /** Signal → the firing it has seen (see `firingOf`), "" for none yet. */
  readonly signals: Map<string, string>
}

export const newFollowing = (): Following => ({ channels: new Map(), signals: new Map() })

export interface ChannelInbox {
  readonly channel: string
  readonly unread: number
  /** Pass as read_messages' since_id to read them. */
  readonly sinceId: number
  readonly lastId: number
}

export interface SignalInbox {
  readonly name: string
  readonly firedBy: string | null
  readonly firedAt: string | null
}

export interface Inbox {
  readonly commands: { readonly waiting: number; readonly ids: ReadonlyArray<string> }
  readonly channels: ReadonlyArray<ChannelInbox>
  readonly signals: ReadonlyArray<SignalInbox>
}

/** Ids listed in an inbox; beyond this the count still tells how many wait. */
export const inboxIdLimit = 100

/** One firing of a signal, told apart from the next even after a clear resets its count. */
export const firingOf = (snapshot: SignalSnapshot | undefined): string =>
  snapshot?.value === "fired" ? `${snapshot.context.firedAt}#${snapshot.context.count}` : ""

/** The pending commands a peer may take, oldest first (all of them, for the count). */
export const waitingCommands = (projection: ProjectState, peerId: string | undefined): ReadonlyArray<string> => {
  const peer = peerId === undefined ? undefined : projection.peers.get(peerId)
  if (peer === undefined || peer.value === "offline") return []
  const ids: Array<string> = []
  for (const command of projection.pendingOf(peer.context.id, peer.context.role)) ids.push(command.context.id)
  return ids
}

export const isPending = (projection: ProjectState, commandId: string): boolean => {
  const command = projection.commands.get(commandId)
  return command !== undefined && commandStatus(command) === "pending"
}

/** Unread messages on a followed channel: held after the cursor (a trim may have dropped some). */
export const unreadOn = (projection: ProjectState, channel: string, cursor: number): ChannelInbox | undefined => {
  const context = projection.channels.get(channel)?.context
  if (context === undefined) return undefined
  const sinceId = Math.max(cursor, context.trimmed)
  const unread = context.count - sinceId
  return unread > 0 ? { channel, unread, sinceId, lastId: context.count } : undefined
}

export const unseenFiring = (projection: ProjectState, name: string, seen: string): SignalInbox | undefined => {
  const snapshot = projection.signals.get(name)
  const firing = firingOf(snapshot)
  return firing !== "" && firing !== seen
    ? { name, firedBy: snapshot!.context.firedBy, firedAt: snapshot!.context.firedAt }
    : undefined
}

/** The inbox of a session acting as `peerId` (undefined before it connects: no commands then). */
export const inboxOf = (projection: ProjectState, peerId: string | undefined, following: Following): Inbox => {
  const ids = waitingCommands(projection, peerId)
  const channels: Array<ChannelInbox> = []
  for (const [channel, cursor] of following.channels) {
    const unread = unreadOn(projection, channel, cursor)
    if (unread) channels.push(unread)
  }
  const signals: Array<SignalInbox> = []
  for (const [name, seen] of following.signals) {
    const fired = unseenFiring(projection, name, seen)
    if (fired) signals.push(fired)
  }
  return { commands: { waiting: ids.length, ids: ids.slice(0, inboxIdLimit) }, channels, signals }
}

export const isEmpty = (inbox: Inbox): boolean =>
  inbox.commands.waiting === 0 && inbox.channels.length === 0 && inbox.signals.length === 0

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/** One line for the model, e.g. `Inbox: 2 commands waiting (wait_for_command takes the next); …`. */
export const inboxLine = (inbox: Inbox): string => {
  const parts: Array<string> = []
  const { waiting } = inbox.commands
  if (waiting > 0) parts.push(`${plural(waiting, "command", "commands")} waiting for you (wait_for_command takes the next)`)
  for (const c of inbox.channels) {
    parts.push(`${c.unread} unread on ${JSON.stringify(c.channel)} (read_messages with since_id ${c.sinceId})`)
  }
  for (const s of inbox.signals) parts.push(`signal ${JSON.stringify(s.name)} fired`)
  return `Inbox: ${parts.join("; ")}.`
}

// What a session has seen ------------------------------------------------------------------------

/** read_messages answered up to `lastSeen`, or the session posted it itself. */
export const markRead = (following: Following, channel: string, lastSeen: number): void => {
  const cursor = following.channels.get(channel)
  if (cursor !== undefined && lastSeen > cursor) following.channels.set(channel, lastSeen)
}

export const markSignalSeen = (following: Following, name: string, snapshot: SignalSnapshot | undefined): void => {
  if (following.signals.has(name)) following.signals.set(name, firingOf(snapshot))
}

/** After a reset every channel starts again at id 1 and every signal is armed. */
export const forgetPositions = (following: Following): void => {
  for (const channel of following.channels.keys()) following.channels.set(channel, 0)
  for (const name of following.signals.keys()) following.signals.set(name, "")
}
