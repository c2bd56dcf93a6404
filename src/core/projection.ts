import type { BrokerEvent } from "./events.js"
import { channelMachine, keyedMessage, type ChannelSnapshot } from "./machines/channel.js"
import {
  commandMachine,
  commandStatus,
  commandStatuses,
  idempotencyWindowMs,
  type CommandEvent,
  type CommandSnapshot,
  type CommandStatus
} from "./machines/command.js"
import { peerMachine, type PeerSnapshot } from "./machines/peer.js"
import { signalMachine, type SignalSnapshot } from "./machines/signal.js"
import { stepsOf } from "./step.js"
import type { TokenRecord } from "./tokens.js"
import { defaultProject, isKeyOf, projectOf, projectOfKey, scoped } from "./projects.js"
import { ProjectView } from "./projectView.js"

const peerSteps = stepsOf(peerMachine, { peerId: "p", role: "r", capabilities: [], name: null, at: "" })
const commandSteps = stepsOf(commandMachine, {
  commandId: "c",
  from: "f",
  target: "t",
  action: "a",
  params: null,
  ttlMs: null,
  at: "",
  seq: 0
})
const channelSteps = stepsOf(channelMachine, { name: "c" })
const signalSteps = stepsOf(signalMachine, { name: "s" })

/**
 * What an applied event changed, for whoever waits on the state: a command waiting room, a channel
 * reader, a signal waiter. Derived from the machines' transitions, never from the wall clock.
 */
export type Change =
  | { readonly kind: "peer"; readonly peerId: string }
  | { readonly kind: "command.pending"; readonly commandId: string; readonly target: string }
  | { readonly kind: "command.delivered"; readonly commandId: string; readonly peerId: string }
  | { readonly kind: "command.settled"; readonly commandId: string }
  | { readonly kind: "message"; readonly channel: string; readonly id: number }
  | { readonly kind: "signal"; readonly name: string }
  | { readonly kind: "reset" }

/** The entity snapshots at one point of the log. Snapshots are immutable, so copying the maps is enough. */
export interface Checkpoint {
  readonly seq: number
  readonly at: string | null
  readonly peers: ReadonlyMap<string, PeerSnapshot>
  readonly commands: ReadonlyMap<string, CommandSnapshot>
  readonly channels: ReadonlyMap<string, ChannelSnapshot>
  readonly signals: ReadonlyMap<string, SignalSnapshot>
  /**
   * Every live scoped token, whole in every checkpoint and delta (they are few, and the map is
   * replaced rather than changed, so sharing it costs nothing): the newest delta's is the truth.
   */
  readonly tokens: ReadonlyMap<string, TokenRecord>
}

/**
 * What changed since the previous delta: each entity touched, as it is now. Applied in order on top
 * of the previous deltas (back to the last `base`), they rebuild the checkpoint at `seq`, with the
 * commands in send order. Snapshots are shared with the projection, so a delta costs what changed.
 */
export interface CheckpointDelta extends Checkpoint {
  /** Nothing before this delta is needed: the first one, the first after a reset, or a full state. */
  readonly base: boolean
}

const noChanges: ReadonlyArray<Change> = []

class Touched {
  readonly peers = new Set<string>()
  readonly commands = new Set<string>()
  readonly channels = new Set<string>()
  readonly signals = new Set<string>()
  /** A reset happened (or nothing was taken yet): the next delta is a base. */
  fromEmpty = true

  clear(fromEmpty: boolean): void {
    this.peers.clear()
    this.commands.clear()
    this.channels.clear()
    this.signals.clear()
    this.fromEmpty = fromEmpty
  }
}

const pick = <V>(from: ReadonlyMap<string, V>, keys: ReadonlySet<string>): Map<string, V> => {
  const out = new Map<string, V>()
  for (const key of keys) {
    const value = from.get(key)
    if (value !== undefined) out.set(key, value)
  }
  return out
}

/**
 * The state of the broker as the fold of the log: one xstate machine snapshot per entity, advanced
 * with the pure `transition`, plus indexes (derived, rebuilt on restore) so that waits never scan.
 */
export class Projection {
  seq = 0
  at: string | null = null
  readonly peers = new Map<string, PeerSnapshot>()
  /** Insertion order is send order. */
  readonly commands = new Map<string, CommandSnapshot>()
  readonly channels = new Map<string, ChannelSnapshot>()
  readonly signals = new Map<string, SignalSnapshot>()
  /**
   * Scoped tokens by name. Copied on write, never changed in place, so checkpoints share it. A
   * reset does not touch it: a reset clears what sessions made, not the credentials an admin gave.
   */
  tokens: ReadonlyMap<string, TokenRecord> = new Map()
  /** secret hash → token, for the guard's lookup on every request. */
  private tokensByHash: ReadonlyMap<string, TokenRecord> = new Map()
  /** Commands per status in each project, kept as they move, so counting them walks nothing. */
  private readonly statusCounts = new Map<string, Record<CommandStatus, number>>()
  /** Command keys in send order, so the most recent are found from the end without copying the map. */
  private readonly sendOrder: Array<string> = []
  /** target key (role or peer id, scoped) → pending command keys, oldest first. */
  private readonly pendingByTarget = new Map<string, Array<string>>()
  /** sender key + idempotency key → the key of the command it names (commands sent with a key only). */
  private readonly idempotent = new Map<string, string>()
  /** peer key → keys of commands delivered to it and not settled. */
  private readonly heldByPeer = new Map<string, Set<string>>()
  /**
   * sender key + target → the times (ms, from the events' `at`) of its sends in the last minute of the
   * log, oldest first: what the loop guard (`--gate-after`) counts. Derived, rebuilt on restore.
   */
  private readonly recentSends = new Map<string, RecentSends>()
  /** Sends remembered since `recentSends` was last swept of pairs with no send in the window. */
  private sendsSinceSweep = 0
  private readonly touched = new Touched()
  private readonly views = new Map<string, ProjectView>()

  /**
   * One project's state, by the names its clients use: what the broker of that project decides on,
   * waits on and renders. Live: it reads this projection as it changes.
   */
  project(name: string): ProjectView {
    let view = this.views.get(name)
    if (view === undefined) {
      view = new ProjectView(this, name)
      this.views.set(name, view)
    }
    return view
  }

  /** The projects that have entities now, `default` first. */
  projects(): Array<string> {
    const names = new Set<string>()
    for (const map of [this.peers, this.commands, this.channels, this.signals]) for (const key of map.keys()) names.add(projectOfKey(key))
    names.delete(defaultProject)
    return [defaultProject, ...[...names].sort()]
  }

  static fromCheckpoint(checkpoint: Checkpoint): Projection {
    const projection = new Projection()
    // Deltas taken from here on are relative to this checkpoint.
    projection.touched.clear(checkpoint.seq === 0)
    projection.seq = checkpoint.seq
    projection.at = checkpoint.at
    for (const [id, snapshot] of checkpoint.peers) projection.peers.set(id, snapshot)
    for (const [name, snapshot] of checkpoint.channels) projection.channels.set(name, snapshot)
    for (const [name, snapshot] of checkpoint.signals) projection.signals.set(name, snapshot)
    projection.setTokens(checkpoint.tokens)
    for (const [key, snapshot] of checkpoint.commands) {
      projection.commands.set(key, snapshot)
      projection.sendOrder.push(key)
      projection.index(key, snapshot)
      const project = projectOfKey(key)
      const { from, idempotencyKey } = snapshot.context
      if (typeof idempotencyKey === "string") projection.idempotent.set(idempotentKey(scoped(project, from), idempotencyKey), key)
      const sentMs = Date.parse(snapshot.context.createdAt)
      if (checkpoint.at !== null && Date.parse(checkpoint.at) - sentMs < sendWindowMs) {
        projection.rememberSend(scoped(project, from), snapshot.context.target, sentMs)
      }
    }
    return projection
  }

  static replay(events: Iterable<BrokerEvent>, from?: Checkpoint): Projection {
    const projection = from ? Projection.fromCheckpoint(from) : new Projection()
    for (const event of events) projection.apply(event)
    return projection
  }

  /**
   * The entities changed since the last delta (`full`: all of them, as a base), for spaced
   * checkpoints that cost what changed rather than a copy of the whole state each.
   */
  takeDelta(full = false): CheckpointDelta {
    const touched = this.touched
    const delta: CheckpointDelta = full
      ? { ...this.checkpoint(), base: true }
      : {
          seq: this.seq,
          at: this.at,
          base: touched.fromEmpty,
          peers: pick(this.peers, touched.peers),
          commands: pick(this.commands, touched.commands),
          channels: pick(this.channels, touched.channels),
          signals: pick(this.signals, touched.signals),
          tokens: this.tokens
        }
    touched.clear(false)
    return delta
  }

  checkpoint(): Checkpoint {
    return {
      seq: this.seq,
      at: this.at,
      peers: new Map(this.peers),
      commands: new Map(this.commands),
      channels: new Map(this.channels),
      signals: new Map(this.signals),
      tokens: this.tokens
    }
  }

  /** The live token whose secret hashes to `hash`. */
  tokenByHash(hash: string): TokenRecord | undefined {
    return this.tokensByHash.get(hash)
  }

  /** Applies the next event of the log. Events must come in seq order, each once. */
  apply(event: BrokerEvent): ReadonlyArray<Change> {
    this.seq = event.seq
    this.at = event.at
    // Every key below is the entity's name or id in the event's project (see projects.ts); the
    // changes name entities as their project does, and the event says which project that is.
    const project = projectOf(event)
    switch (event.type) {
      case "peer.connected": {
        const key = scoped(project, event.data.peerId)
        const existing = this.peers.get(key)
        const [next] = existing
          ? peerSteps.next(existing, event)
          : peerSteps.initial({ ...event.data, at: event.at })
        this.setPeer(key, next)
        return [{ kind: "peer", peerId: event.data.peerId }]
      }
      case "peer.heartbeat":
      case "peer.went_stale":
      case "peer.went_offline": {
        const key = scoped(project, event.data.peerId)
        const existing = this.peers.get(key)
        if (!existing) return noChanges
        const [next, actions] = peerSteps.next(existing, event)
        this.setPeer(key, next)
        if (next.value === existing.value && next.context === existing.context) return noChanges
        const changes: Array<Change> = [{ kind: "peer", peerId: event.data.peerId }]
        if (actions.some((action) => action.type === "releaseHeldCommands")) {
          for (const command of this.heldBy(key)) {
            changes.push(...this.advanceCommand(scoped(project, command.context.id), { type: "holder.gone", seq: event.seq }))
          }
        }
        return changes
      }
      case "command.sent": {
        const key = scoped(project, event.data.commandId)
        if (this.commands.has(key)) return noChanges
        const { idempotencyKey } = event.data
        const from = scoped(project, event.data.from)
        if (idempotencyKey !== undefined) {
          // A repeat that raced the original into the log (two nodes, or two requests before either
          // was applied): the first in log order is the command, the repeat is nothing.
          if (this.idempotentOriginal(from, idempotencyKey, Date.parse(event.at)) !== undefined) return noChanges
          this.idempotent.set(idempotentKey(from, idempotencyKey), key)
        }
        this.sendOrder.push(key)
        this.rememberSend(from, event.data.target, Date.parse(event.at))
        const [sent] = commandSteps.initial({ ...event.data, at: event.at, seq: event.seq })
        const snapshot = event.data.held === undefined ? sent : commandSteps.next(sent, { type: "sent.held" })[0]
        this.setCommand(key, snapshot)
        this.index(key, snapshot)
        return snapshot === sent ? [{ kind: "command.pending", commandId: event.data.commandId, target: event.data.target }] : [changeFor(snapshot)]
      }
      case "command.delivered": {
        // A claim by a peer that is gone loses, so a command is never held by nobody.
        const claimant = this.peers.get(scoped(project, event.data.peerId))
        if (!claimant || claimant.value !== "online") return noChanges
        return this.advanceCommand(scoped(project, event.data.commandId), event)
      }
      case "command.acked":
      case "command.lease_expired":
      case "command.expired":
      case "command.cancelled":
      case "command.dead":
      case "command.redelivered":
      case "command.approved":
      case "command.rejected":
        return this.advanceCommand(scoped(project, event.data.commandId), event)
      case "message.sent": {
        const key = scoped(project, event.data.channel)
        const known = this.channels.get(key)
        const { idempotencyKey } = event.data
        // A repeat that raced the original into the log: the first in log order is the message.
        if (known && idempotencyKey !== undefined && keyedMessage(known.context, event.data.from, idempotencyKey, Date.parse(event.at))) {
          return noChanges
        }
        const existing = known ?? channelSteps.initial({ name: event.data.channel })[0]
        const [next] = channelSteps.next(existing, event)
        this.channels.set(key, next)
        this.touched.channels.add(key)
        return [{ kind: "message", channel: event.data.channel, id: next.context.count }]
      }
      case "channel.trimmed": {
        // Nobody waits for fewer messages: a trim wakes no one.
        const key = scoped(project, event.data.channel)
        const existing = this.channels.get(key)
        if (!existing) return noChanges
        const [next] = channelSteps.next(existing, event)
        if (next.context === existing.context) return noChanges
        this.channels.set(key, next)
        this.touched.channels.add(key)
        return noChanges
      }
      case "signal.fired":
      case "signal.cleared": {
        const key = scoped(project, event.data.name)
        const existing = this.signals.get(key) ?? signalSteps.initial({ name: event.data.name })[0]
        const [next] = signalSteps.next(existing, event)
        this.signals.set(key, next)
        this.touched.signals.add(key)
        return [{ kind: "signal", name: event.data.name }]
      }
      case "broker.reset":
        this.resetProject(project)
        return [{ kind: "reset" }]
      case "token.minted": {
        // A second mint under a live name (two nodes racing) loses: the first in log order stays.
        if (this.tokens.has(event.data.name)) return noChanges
        const { name, project, role, hash, boundRole } = event.data
        const tokens = new Map(this.tokens)
        tokens.set(name, { name, project, role, hash, boundRole: boundRole ?? null, mintedAt: event.at })
        this.setTokens(tokens)
        return noChanges
      }
      case "token.revoked": {
        if (!this.tokens.has(event.data.name)) return noChanges
        const tokens = new Map(this.tokens)
        tokens.delete(event.data.name)
        this.setTokens(tokens)
        return noChanges
      }
      default:
        // A type from a newer version: nothing this version knows changes.
        return noChanges
    }
  }

  /**
   * Forgets every peer, command, channel and signal of one project; the others' stay as they are.
   * The next delta is then a base holding all that is left, since a delta lists what is, not what went.
   */
  private resetProject(project: string): void {
    const keep = (key: string) => !isKeyOf(key, project)
    for (const map of [this.peers, this.commands, this.channels, this.signals] as Array<Map<string, unknown>>) {
      for (const key of [...map.keys()]) if (!keep(key)) map.delete(key)
    }
    const kept = this.sendOrder.filter(keep)
    this.sendOrder.length = 0
    this.sendOrder.push(...kept)
    this.statusCounts.delete(project)
    for (const index of [this.pendingByTarget, this.heldByPeer] as Array<Map<string, unknown>>) {
      for (const key of [...index.keys()]) if (!keep(key)) index.delete(key)
    }
    // Keyed by the sender's key and a second part that may hold a slash (an idempotency key).
    for (const index of [this.idempotent, this.recentSends] as Array<Map<string, unknown>>) {
      for (const key of [...index.keys()]) if (!keep(key.slice(0, key.indexOf("\n")))) index.delete(key)
    }
    this.touched.clear(true)
    for (const key of this.peers.keys()) this.touched.peers.add(key)
    for (const key of this.commands.keys()) this.touched.commands.add(key)
    for (const key of this.channels.keys()) this.touched.channels.add(key)
    for (const key of this.signals.keys()) this.touched.signals.add(key)
  }

  /** The command a sender's idempotency key names (the sender's key: scoped), if it was sent within 24 hours of `nowMs`. */
  idempotentOriginal(from: string, key: string, nowMs: number): CommandSnapshot | undefined {
    const id = this.idempotent.get(idempotentKey(from, key))
    const command = id === undefined ? undefined : this.commands.get(id)
    return command !== undefined && nowMs - Date.parse(command.context.createdAt) < idempotencyWindowMs ? command : undefined
  }

  /** How many commands `from` sent to `target` in the minute before `nowMs` (the loop guard's count). */
  sendsInLastMinute(from: string, target: string, nowMs: number): number {
    const recent = this.recentSends.get(sendKey(from, target))
    if (recent === undefined) return 0
    const { times, start } = recent
    let count = 0
    for (let i = times.length - 1; i >= start && nowMs - times[i]! < sendWindowMs; i--) count++
    return count
  }

  /** Pending commands a peer may take (addressed to its id or its role, both keys), oldest first. */
  pendingFor(peerId: string, role: string): Array<CommandSnapshot> {
    return [...this.pendingOf(peerId, role)]
  }

  /** The oldest pending command for a peer, without building the whole list. */
  oldestPendingFor(peerId: string, role: string): CommandSnapshot | undefined {
    return this.pendingOf(peerId, role).next().value
  }

  /**
   * The pending commands a peer may take, oldest first: the two send-ordered queues (its id's and
   * its role's) merged as they are walked, so taking the first costs no sort and no copy.
   */
  *pendingOf(peerId: string, role: string): Generator<CommandSnapshot, undefined> {
    const byId = this.pendingByTarget.get(peerId) ?? []
    const byRole = role === peerId ? [] : (this.pendingByTarget.get(role) ?? [])
    let i = 0
    let j = 0
    while (i < byId.length || j < byRole.length) {
      const a = i < byId.length ? this.commands.get(byId[i]!)! : undefined
      const b = j < byRole.length ? this.commands.get(byRole[j]!)! : undefined
      if (b === undefined || (a !== undefined && a.context.sentSeq < b.context.sentSeq)) {
        i++
        yield a!
      } else {
        j++
        yield b
      }
    }
    return undefined
  }

  /** How many commands of a project are in each status. */
  commandCounts(project: string = defaultProject): Record<CommandStatus, number> {
    return { ...(this.statusCounts.get(project) ?? zeroCounts()) }
  }

  /** A project's commands, most recently sent first. */
  *recentCommands(project: string = defaultProject): Generator<CommandSnapshot, undefined> {
    for (let i = this.sendOrder.length - 1; i >= 0; i--) {
      const key = this.sendOrder[i]!
      if (!isKeyOf(key, project)) continue
      const command = this.commands.get(key)
      if (command !== undefined) yield command
    }
    return undefined
  }

  /** A project's commands not settled yet (pending or delivered), from the indexes: what the sweeper looks at. */
  *activeCommands(project: string = defaultProject): Generator<CommandSnapshot, undefined> {
    for (const [target, queue] of this.pendingByTarget) if (isKeyOf(target, project)) for (const key of queue) yield this.commands.get(key)!
    for (const [peer, held] of this.heldByPeer) if (isKeyOf(peer, project)) for (const key of held) yield this.commands.get(key)!
    return undefined
  }

  /** Commands delivered to a peer (its key) and not settled, in send order (the same live and after a restore). */
  heldBy(peerKey: string): Array<CommandSnapshot> {
    return [...(this.heldByPeer.get(peerKey) ?? [])]
      .map((id) => this.commands.get(id)!)
      .sort((a, b) => a.context.sentSeq - b.context.sentSeq)
  }

  private advanceCommand(key: string, event: CommandEvent): ReadonlyArray<Change> {
    const before = this.commands.get(key)
    if (!before) return noChanges
    const [after] = commandSteps.next(before, event)
    if (after === before || after.value === before.value) {
      this.setCommand(key, after)
      return noChanges
    }
    this.unindex(key, before)
    this.setCommand(key, after)
    this.index(key, after)
    return [changeFor(after)]
  }

  private rememberSend(from: string, target: string, atMs: number): void {
    if (++this.sendsSinceSweep >= recentSendsSweepEvery) this.forgetQuietSenders(atMs)
    const key = sendKey(from, target)
    const recent = this.recentSends.get(key)
    if (recent === undefined) {
      this.recentSends.set(key, { times: [atMs], start: 0 })
      return
    }
    // A queue: sends older than the window are skipped from the front, and the array is compacted
    // only once most of it is skipped, so a busy sender's send costs O(1), not a shift of its minute.
    const { times } = recent
    while (recent.start < times.length && atMs - times[recent.start]! >= sendWindowMs) recent.start++
    if (recent.start > 64 && recent.start * 2 > times.length) {
      times.splice(0, recent.start)
      recent.start = 0
    }
    times.push(atMs)
  }

  /**
   * Drops the pairs whose last send is out of the window: they count 0 either way, and without this
   * every sender and target ever seen would stay. Every `recentSendsSweepEvery` sends, so O(1) a send.
   */
  private forgetQuietSenders(nowMs: number): void {
    this.sendsSinceSweep = 0
    for (const [key, { times }] of this.recentSends) {
      const last = times[times.length - 1]
      if (last === undefined || nowMs - last >= sendWindowMs) this.recentSends.delete(key)
    }
  }

  private setTokens(tokens: ReadonlyMap<string, TokenRecord>): void {
    this.tokens = tokens
    this.tokensByHash = new Map([...tokens.values()].map((token) => [token.hash, token]))
  }

  private setPeer(id: string, snapshot: PeerSnapshot): void {
    this.peers.set(id, snapshot)
    this.touched.peers.add(id)
  }

  private setCommand(id: string, snapshot: CommandSnapshot): void {
    this.commands.set(id, snapshot)
    this.touched.commands.add(id)
  }

  private countsOf(project: string): Record<CommandStatus, number> {
    let counts = this.statusCounts.get(project)
    if (counts === undefined) {
      counts = zeroCounts()
      this.statusCounts.set(project, counts)
    }
    return counts
  }

  /** `key`: the command's key; its project scopes the target and the holder too. */
  private index(key: string, snapshot: CommandSnapshot): void {
    const { target, deliveredTo, sentSeq } = snapshot.context
    const project = projectOfKey(key)
    const status = commandStatus(snapshot)
    this.countsOf(project)[status]++ // every status is counted; only pending and delivered are indexed
    if (status === "pending") insertBySentSeq(this.pendingByTarget, scoped(project, target), key, sentSeq, this.commands)
    if (status === "delivered" && deliveredTo !== null) {
      const holder = scoped(project, deliveredTo)
      const held = this.heldByPeer.get(holder) ?? new Set<string>()
      held.add(key)
      this.heldByPeer.set(holder, held)
    }
  }

  private unindex(key: string, snapshot: CommandSnapshot): void {
    const { target, deliveredTo } = snapshot.context
    const project = projectOfKey(key)
    const status = commandStatus(snapshot)
    this.countsOf(project)[status]--
    if (status === "pending") {
      const targetKey = scoped(project, target)
      const queue = this.pendingByTarget.get(targetKey)
      const at = queue?.indexOf(key) ?? -1
      if (queue && at >= 0) queue.splice(at, 1)
      if (queue?.length === 0) this.pendingByTarget.delete(targetKey)
    }
    if (status === "delivered" && deliveredTo !== null) {
      const holder = scoped(project, deliveredTo)
      const held = this.heldByPeer.get(holder)
      held?.delete(key)
      if (held?.size === 0) this.heldByPeer.delete(holder)
    }
  }
}

const idempotentKey = (from: string, key: string): string => `${from}\n${key}`
const sendKey = (from: string, target: string): string => `${from}\n${target}`
/** One sender's sends to one target, by time (ms), oldest first from `start`. */
interface RecentSends {
  readonly times: Array<number>
  start: number
}
/** The loop guard's window: sends in the last minute of the log. */
const recentSendsSweepEvery = 1024
const sendWindowMs = 60_000

const zeroCounts = (): Record<CommandStatus, number> =>
  Object.fromEntries(commandStatuses.map((status) => [status, 0])) as Record<CommandStatus, number>

const changeFor = (snapshot: CommandSnapshot): Change => {
  const status: CommandStatus = commandStatus(snapshot)
  const { id, target, deliveredTo } = snapshot.context
  if (status === "pending") return { kind: "command.pending", commandId: id, target }
  if (status === "delivered") return { kind: "command.delivered", commandId: id, peerId: deliveredTo! }
  return { kind: "command.settled", commandId: id }
}

/** Commands usually arrive in order, so this is an append; a command back from a lease goes in its place. */
const insertBySentSeq = (
  queues: Map<string, Array<string>>,
  target: string,
  id: string,
  sentSeq: number,
  commands: ReadonlyMap<string, CommandSnapshot>
): void => {
  const queue = queues.get(target) ?? []
  queues.set(target, queue)
  let at = queue.length
  while (at > 0 && commands.get(queue[at - 1]!)!.context.sentSeq > sentSeq) at--
  queue.splice(at, 0, id)
}
