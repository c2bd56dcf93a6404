import type { Notice } from "../broker/notices.js"
import type { ProjectState } from "../core/projectView.js"
import { isPending, unreadOn, unseenFiring, type ChannelInbox, type Following, type SignalInbox } from "./inbox.js"

/**
 * Pushes into sessions: when work arrives for a session that is not parked in a wait, it hears of
 * it at once — Claude Code's `notifications/claude/channel` (shown to the model as a <channel> tag)
 * and, for clients that subscribed to `broker://inbox`, `notifications/resources/updated`.
 *
 * A push is a hint, never a delivery: nothing here changes a command's state. The command stays
 * pending until a wait takes it, so a client that ignores pushes loses nothing.
 *
 * Bursts coalesce: the first piece of news goes out at once; what arrives within `coalesceMs`
 * after a push is told in one push when that window ends ("3 commands waiting …"). The ids stay in
 * the inbox whatever the push said.
 */

/** What a push says: one short line for the model, and string metadata (keys in [A-Za-z0-9_]). */
export interface Push {
  readonly content: string
  readonly meta: Readonly<Record<string, string>>
}

/** A session as the pusher sees it. */
export interface PushTarget {
  readonly peerId: string
  /** Connected as `peerId` (commands are pushed only to registered peers). */
  readonly connected: () => boolean
  readonly following: Following
  /** Has a wait_for_command in flight: it takes its commands itself. */
  readonly waitingForCommand: () => boolean
  readonly send: (push: Push) => void
}

/** The latest message heard on a channel, for a push that tells of one message. */
interface Heard {
  readonly id: number
  readonly from: string | null
  readonly message: unknown
}

interface Queued {
  readonly commands: Set<string>
  readonly messages: Map<string, Heard>
  readonly signals: Set<string>
  /** A push is scheduled: cancels it. */
  cancel: (() => void) | undefined
  lastPushAt: number
}

const sortedByName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1)

export class Pusher {
  private readonly queued = new Map<PushTarget, Queued>()
  private readonly byPeer = new Map<string, PushTarget>()
  /** Targets by the role last seen for them; checked again against the projection on use. */
  private readonly byRole = new Map<string, Set<PushTarget>>()
  private readonly roleOf = new Map<PushTarget, string>()
  private readonly byChannel = new Map<string, Set<PushTarget>>()
  private readonly bySignal = new Map<string, Set<PushTarget>>()

  constructor(
    private readonly projection: ProjectState,
    private readonly coalesceMs: number
  ) {}

  // Who follows what ---------------------------------------------------------------------------

  add(target: PushTarget): void {
    this.queued.set(target, { commands: new Set(), messages: new Map(), signals: new Set(), cancel: undefined, lastPushAt: 0 })
    this.byPeer.set(target.peerId, target)
    this.refresh(target)
  }

  remove(target: PushTarget): void {
    this.queued.get(target)?.cancel?.()
    this.queued.delete(target)
    if (this.byPeer.get(target.peerId) === target) this.byPeer.delete(target.peerId)
    this.setRole(target, undefined)
    for (const set of [...this.byChannel.values(), ...this.bySignal.values()]) set.delete(target)
  }

  /**
   * The peer's role, the channels and signals followed, as they are now: after a tool call, and as
   * soon as the log says the peer connected or changed (before any later command is applied).
   */
  refresh(target: PushTarget): void {
    if (!this.queued.has(target)) return
    this.setRole(target, this.projection.peers.get(target.peerId)?.context.role)
    index(this.byChannel, target, target.following.channels.keys())
    index(this.bySignal, target, target.following.signals.keys())
  }

  private setRole(target: PushTarget, role: string | undefined): void {
    const before = this.roleOf.get(target)
    if (before === role) return
    if (before !== undefined) this.byRole.get(before)?.delete(target)
    if (role === undefined) this.roleOf.delete(target)
    else {
      this.roleOf.set(target, role)
      let set = this.byRole.get(role)
      if (!set) this.byRole.set(role, (set = new Set()))
      set.add(target)
    }
  }

  // News ---------------------------------------------------------------------------------------

  /** Called while the broker applies the log: note who should hear, push on the next turn. */
  readonly hear = (notice: Notice): void => {
    switch (notice.kind) {
      case "peer": {
        const target = this.byPeer.get(notice.peerId)
        if (target) this.refresh(target)
        return
      }
      case "command": {
        const direct = this.byPeer.get(notice.target)
        if (direct) this.queue(direct, (q) => q.commands.add(notice.commandId))
        for (const target of this.byRole.get(notice.target) ?? []) {
          if (target !== direct) this.queue(target, (q) => q.commands.add(notice.commandId))
        }
        return
      }
      case "message":
        for (const target of this.byChannel.get(notice.channel) ?? []) {
          if (notice.from !== target.peerId) this.queue(target, (q) => q.messages.set(notice.channel, notice))
        }
        return
      case "signal":
        for (const target of this.bySignal.get(notice.name) ?? []) this.queue(target, (q) => q.signals.add(notice.name))
        return
      case "reset":
        for (const queued of this.queued.values()) {
          queued.commands.clear()
          queued.messages.clear()
          queued.signals.clear()
        }
        return
    }
  }

  private queue(target: PushTarget, note: (queued: Queued) => void): void {
    const queued = this.queued.get(target)
    if (!queued) return
    note(queued)
    if (queued.cancel !== undefined) return
    // The first news after a quiet spell goes out on the next turn (after the rest of this batch
    // of events is applied: setImmediate, not a timer, which Node rounds up to a millisecond);
    // news within the window after a push waits for the window to end.
    const wait = queued.lastPushAt + this.coalesceMs - Date.now()
    const flush = () => this.flush(target)
    if (wait <= 0) {
      const immediate = setImmediate(flush)
      queued.cancel = () => clearImmediate(immediate)
    } else {
      const timer = setTimeout(flush, wait)
      queued.cancel = () => clearTimeout(timer)
    }
  }

  private flush(target: PushTarget): void {
    const queued = this.queued.get(target)
    if (!queued) return
    queued.cancel = undefined
    const push = this.compose(target, queued)
    queued.commands.clear()
    queued.messages.clear()
    queued.signals.clear()
    if (push === undefined) return
    queued.lastPushAt = Date.now()
    target.send(push)
  }

  /** What is still news when the push goes out: taken commands, read messages and so on drop out. */
  private compose(target: PushTarget, queued: Queued): Push | undefined {
    const { projection } = this
    const peer = projection.peers.get(target.peerId)
    const commands =
      target.connected() && peer !== undefined && !target.waitingForCommand()
        ? [...queued.commands].filter((id) => {
            const command = projection.commands.get(id)
            return (
              command !== undefined &&
              isPending(projection, id) &&
              (command.context.target === peer.context.id || command.context.target === peer.context.role)
            )
          })
        : []
    const channels = [...queued.messages].flatMap(([channel, heard]) => {
      const cursor = target.following.channels.get(channel)
      const unread = cursor === undefined ? undefined : unreadOn(projection, channel, cursor)
      return unread ? [{ ...unread, heard }] : []
    })
    const signals = [...queued.signals].flatMap((name) => {
      const seen = target.following.signals.get(name)
      const fired = seen === undefined ? undefined : unseenFiring(projection, name, seen)
      return fired ? [fired] : []
    })
    if (commands.length + channels.length + signals.length === 0) return undefined
    return composePush(projection, peer?.context.role, commands, channels, signals)
  }
}

const index = <K>(map: Map<K, Set<PushTarget>>, target: PushTarget, keys: Iterable<K>): void => {
  const wanted = new Set(keys)
  for (const [key, set] of map) {
    if (!wanted.has(key) && set.delete(target) && set.size === 0) map.delete(key)
  }
  for (const key of wanted) {
    let set = map.get(key)
    if (!set) map.set(key, (set = new Set()))
    set.add(target)
  }
}

// Wording ----------------------------------------------------------------------------------------

const maxDetail = 160
/** Ids named in one push's text; the meta lists more, the inbox all. */
const namedInText = 5
const idsInMeta = 50

const clip = (text: string, max = maxDetail) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

const jsonClip = (value: unknown) => clip(JSON.stringify(value) ?? "null")

/** "orchestrator" for a known peer (its role), else its id; "someone" for nobody. */
const nameOf = (projection: ProjectState, peerId: string | null): string =>
  peerId === null ? "someone" : (projection.peers.get(peerId)?.context.role ?? peerId)

const composePush = (
  projection: ProjectState,
  role: string | undefined,
  commandIds: ReadonlyArray<string>,
  channels: ReadonlyArray<ChannelInbox & { readonly heard: Heard }>,
  signals: ReadonlyArray<SignalInbox>
): Push => {
  const parts: Array<string> = []
  const meta: Record<string, string> = {}
  const kinds = (commandIds.length > 0 ? 1 : 0) + (channels.length > 0 ? 1 : 0) + (signals.length > 0 ? 1 : 0)

  if (commandIds.length > 0) {
    const commands = commandIds.map((id) => projection.commands.get(id)!.context)
    const first = commands[0]!
    meta.command_id = first.id
    meta.from = first.from
    meta.from_role = nameOf(projection, first.from)
    if (commands.length === 1) {
      parts.push(
        `Command ${first.id} from ${nameOf(projection, first.from)} for ${first.target}: ${clip(first.action, 80)} ${jsonClip(first.params)}. Take it with wait_for_command, then ack_command.`
      )
    } else {
      meta.command_ids = commandIds.slice(0, idsInMeta).join(",")
      meta.count = String(commands.length)
      const named = commands
        .slice(0, namedInText)
        .map((c) => `${c.id} (${clip(c.action, 40)}) from ${nameOf(projection, c.from)}`)
      const more = commands.length > namedInText ? `, and ${commands.length - namedInText} more` : ""
      parts.push(
        `${commands.length} commands waiting for ${role ?? "you"}: ${named.join(", ")}${more}. Take them one at a time with wait_for_command, and ack_command each.`
      )
    }
  }

  if (channels.length > 0) {
    const first = channels[0]!
    meta.channel = first.channel
    meta.message_id = String(first.lastId)
    if (commandIds.length === 0 && first.heard.from !== null) {
      meta.from = first.heard.from
      meta.from_role = nameOf(projection, first.heard.from)
    }
    const total = channels.reduce((n, c) => n + c.unread, 0)
    if (total === 1 && first.heard.id === first.lastId) {
      parts.push(
        `Message #${first.lastId} on ${JSON.stringify(first.channel)} from ${nameOf(projection, first.heard.from)}: ${jsonClip(first.heard.message)}. read_messages(${JSON.stringify(first.channel)}, since_id=${first.sinceId}) returns it.`
      )
    } else {
      const each = channels.map((c) => `${c.unread} on ${JSON.stringify(c.channel)} (since_id=${c.sinceId})`)
      parts.push(`${total} new messages: ${each.join(", ")}. Read them with read_messages(channel, since_id).`)
    }
  }

  if (signals.length > 0) {
    const sorted = [...signals].sort(sortedByName)
    meta.signal = sorted[0]!.name
    if (commandIds.length === 0 && channels.length === 0 && sorted[0]!.firedBy !== null) {
      meta.from = sorted[0]!.firedBy
      meta.from_role = nameOf(projection, sorted[0]!.firedBy)
    }
    const named = sorted.map((s) => {
      const data = projection.signals.get(s.name)?.context.data ?? null
      return `${JSON.stringify(s.name)}${s.firedBy ? ` by ${nameOf(projection, s.firedBy)}` : ""}${data === null ? "" : ` with ${jsonClip(data)}`}`
    })
    parts.push(`Signal ${named.join(", ")} fired; wait_for_signal answers at once.`)
  }

  meta.kind = kinds > 1 ? "inbox" : commandIds.length > 0 ? "command" : channels.length > 0 ? "message" : "signal"
  return { content: parts.join(" "), meta }
}
