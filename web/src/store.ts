import { isBrokerEvent, type BrokerEvent, type MessageSent } from "../../src/core/events.js"
import { heldCount } from "../../src/core/machines/channel.js"
import { peerStatus } from "../../src/core/machines/peer.js"
import { commandStatus, type CommandStatus } from "../../src/core/machines/command.js"
import { CheckpointChain } from "../../src/core/checkpointChain.js"
import { defaultProject, projectOf, scoped } from "../../src/core/projects.js"
import { Projection, type Checkpoint } from "../../src/core/projection.js"
import type { ProjectState } from "../../src/core/projectView.js"
import { messageView, recentCommands, stateView, type MessageView, type StateView } from "../../src/core/views.js"
import { categoryOf, describe, type Category, type Names, type Tone } from "./describe.js"

/**
 * The dashboard's model, free of any UI framework so that it is tested in Node: the events held (live
 * from the broker or imported from a file), the projection at the head, checkpoints for time travel,
 * and what a person sees at a chosen position of the log. The state at a position is computed by the
 * core's own Projection, exactly as the server's `/status?at=` does.
 */

export interface TimelineOptions {
  /** A spaced checkpoint every this many events (500; doubles when there would be more than `maxCheckpoints`, 200). */
  readonly every?: number
  readonly maxCheckpoints?: number
  /** Fine checkpoints (every `every / 10` events) kept around the places a person scrubs. */
  readonly fineCheckpoints?: number
  /**
   * The project whose events these are (`default`): what the panels show is that project's state,
   * by the names its clients use (`Projection.project`), as `/p/<project>/status?at=` shows it.
   */
  readonly project?: string
}

/**
 * An append-only list of events with the projection at its head and checkpoints behind it, so the
 * state after any event costs at most a few hundred `apply`s: a spaced checkpoint every `every`
 * events, and finer ones made on the way whenever someone scrubs, kept for the most recent places.
 *
 * The spaced checkpoints are the core's `CheckpointChain`, the one the broker keeps for
 * `/status?at=`: deltas of what changed (`Projection.takeDelta`), not a copy of every entity map
 * each time, thinned by the chain itself (neighbours merged, the spacing doubled) past
 * `maxCheckpoints`.
 *
 * A project's events are a part of the one log, with their seqs in it: they need not be dense.
 * Positions are seqs (the state right after an event, or the last one before a seq), counts are
 * events held (the slider's scale), and `countAt` / `seqAfter` go from one to the other.
 */
export class Timeline {
  private readonly list: Array<BrokerEvent> = []
  private readonly head = new Projection()
  private readonly chain: CheckpointChain
  private every: number
  private readonly maxFine: number
  /** event count → checkpoint, in least-recently-used order. */
  private readonly fine = new Map<number, Checkpoint>()
  /** A projection of our own that scrubbing moves forward, so dragging right costs only the events passed. */
  private cursor: { projection: Projection; count: number } | null = null
  private dense = true
  /** Seqs of heartbeats that brought a stale or offline peer back: facts, unlike routine ones. */
  private readonly revivals = new Set<number>()
  readonly project: string

  constructor(options: TimelineOptions = {}) {
    this.project = options.project ?? defaultProject
    this.every = Math.max(2, options.every ?? 500)
    this.chain = new CheckpointChain(Math.max(2, options.maxCheckpoints ?? 200))
    this.maxFine = options.fineCheckpoints ?? 60
  }

  static of(events: Iterable<BrokerEvent>, options?: TimelineOptions): Timeline {
    const timeline = new Timeline(options)
    for (const event of events) timeline.append(event)
    return timeline
  }

  get length(): number {
    return this.list.length
  }
  get events(): ReadonlyArray<BrokerEvent> {
    return this.list
  }
  /** The seq before the first event held: the slider's start, "nothing happened yet". */
  get startSeq(): number {
    return this.list.length === 0 ? 0 : this.list[0]!.seq - 1
  }
  get lastSeq(): number {
    return this.list.length === 0 ? 0 : this.list[this.list.length - 1]!.seq
  }
  /** The projection after the last event. Read it, never apply to it. */
  get headProjection(): Projection {
    return this.head
  }
  /** The project's state after the last event, by its names. */
  get headState(): ProjectState {
    return this.head.project(this.project)
  }
  get checkpointInterval(): number {
    return this.every
  }
  get checkpointCount(): number {
    return this.chain.size + this.fine.size
  }

  /**
   * Adds the next event; false (and nothing changes) for one at or before the last seq — a replay
   * overlap after a reconnect. Throws if the projection cannot apply it, before anything is kept.
   */
  append(event: BrokerEvent): boolean {
    const last = this.lastSeq
    if (this.list.length > 0 && event.seq <= last) return false
    const before = event.type === "peer.heartbeat" ? this.head.peers.get(scoped(projectOf(event), event.data.peerId)) : undefined
    this.head.apply(event)
    if (before !== undefined && peerStatus(before) !== "online") this.revivals.add(event.seq)
    if (this.list.length > 0 && event.seq !== last + 1) this.dense = false
    this.list.push(event)
    if (this.list.length % this.every === 0 && this.chain.add(this.head.takeDelta()).thinned) {
      // The chain merged its neighbours: checkpoints are twice as far apart, and the fine ones
      // (a tenth of the spacing) are made anew at the new spacing.
      this.every *= 2
      this.fine.clear()
    }
    return true
  }

  /** How many events have a seq at or before `seq`. */
  countAt(seq: number): number {
    const n = this.list.length
    if (n === 0) return 0
    const first = this.list[0]!.seq
    if (seq < first) return 0
    if (seq >= this.lastSeq) return n
    if (this.dense) return Math.floor(seq) - first + 1
    let lo = 0
    let hi = n // invariant: list[lo - 1].seq <= seq < list[hi].seq
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.list[mid]!.seq <= seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Whether the event at `seq` is a heartbeat that brought its peer back online. */
  revived(seq: number): boolean {
    return this.revivals.has(seq)
  }

  eventBySeq(seq: number): BrokerEvent | undefined {
    const count = this.countAt(seq)
    const event = count > 0 ? this.list[count - 1] : undefined
    return event?.seq === seq ? event : undefined
  }

  /** The seq of the position after the first `count` events: the start, or the seq of the count-th event. */
  seqAfter(count: number): number {
    const c = Math.max(0, Math.min(this.list.length, Math.floor(count)))
    return c === 0 ? this.startSeq : this.list[c - 1]!.seq
  }

  /** The seq of the event `delta` events away from `seq` (clamped to the log). */
  stepFrom(seq: number, delta: number): number {
    return this.seqAfter(this.countAt(seq) + delta)
  }

  /**
   * The state right after the event at `seq` (or the last before it). The projection returned is
   * shared: read it before the next call, never apply to it.
   */
  projectionAt(seq: number): Projection {
    return this.projectionAfter(this.countAt(seq))
  }

  /** The project's state right after the event at `seq`, by its names; shared like `projectionAt`'s. */
  stateAt(seq: number): ProjectState {
    return this.projectionAt(seq).project(this.project)
  }

  /** The state after the first `count` events. */
  projectionAfter(count: number): Projection {
    const c = Math.max(0, Math.min(this.list.length, count))
    if (c === this.list.length) return this.head
    const fineEvery = Math.max(1, Math.floor(this.every / 10))
    // Where the newest spaced checkpoint at or before the target is; rebuilt from the chain only if
    // neither a fine checkpoint nor the cursor is closer.
    const target = c === 0 ? undefined : this.list[c - 1]!.seq
    const spacedSeq = target === undefined ? undefined : this.spacedSeqAtOrBefore(target)
    let startCount = spacedSeq === undefined ? 0 : this.countAt(spacedSeq)
    let start: Checkpoint | undefined
    for (let f = c - (c % fineEvery); f > startCount; f -= fineEvery) {
      const checkpoint = this.fine.get(f)
      if (checkpoint) {
        this.fine.delete(f)
        this.fine.set(f, checkpoint) // most recently used
        startCount = f
        start = checkpoint
        break
      }
    }
    let projection: Projection
    let from: number
    if (this.cursor !== null && this.cursor.count <= c && this.cursor.count >= startCount) {
      projection = this.cursor.projection
      from = this.cursor.count
    } else {
      if (start === undefined && spacedSeq !== undefined) start = this.chain.at(spacedSeq)
      projection = start ? Projection.fromCheckpoint(start) : new Projection()
      from = startCount
    }
    for (let i = from; i < c; i++) {
      projection.apply(this.list[i]!)
      const n = i + 1
      if (n % fineEvery === 0 && n % this.every !== 0 && !this.fine.has(n)) this.keepFine(n, projection.checkpoint())
    }
    this.cursor = { projection, count: c }
    return projection
  }

  /** The seq of the newest spaced checkpoint at or before `seq`, if any. */
  private spacedSeqAtOrBefore(seq: number): number | undefined {
    const deltas = this.chain.deltas
    let found: number | undefined
    for (let lo = 0, hi = deltas.length - 1; lo <= hi; ) {
      const mid = (lo + hi) >> 1
      if (deltas[mid]!.seq <= seq) (found = deltas[mid]!.seq), (lo = mid + 1)
      else hi = mid - 1
    }
    return found
  }

  private keepFine(count: number, checkpoint: Checkpoint): void {
    if (this.maxFine <= 0) return
    this.fine.set(count, checkpoint)
    while (this.fine.size > this.maxFine) this.fine.delete(this.fine.keys().next().value!)
  }

  /** The last `limit` events at or before `seq`, newest first, optionally only those `keep` accepts. */
  eventsBefore(seq: number, limit: number, keep?: (event: BrokerEvent) => boolean, scanLimit = 50_000): Array<BrokerEvent> {
    const out: Array<BrokerEvent> = []
    const end = this.countAt(seq)
    for (let i = end - 1; i >= 0 && out.length < limit && end - i <= scanLimit; i--) {
      const event = this.list[i]!
      if (keep === undefined || keep(event)) out.push(event)
    }
    return out
  }

  /** A channel's messages in `state` (its seq index points into this log), newest first. */
  messages(state: Pick<ProjectState, "channels">, channel: string, limit: number): Array<MessageView> {
    const snapshot = state.channels.get(channel)
    if (!snapshot) return []
    const { seqs, count, trimmed } = snapshot.context
    const out: Array<MessageView> = []
    // Ids at or below `trimmed` were dropped by retention: the log has them, the channel no longer does.
    for (let id = count; id > trimmed && out.length < limit; id--) {
      const event = this.eventBySeq(seqs[id - 1 - trimmed]!)
      if (event?.type === "message.sent") out.push(messageView(id, event as BrokerEvent & MessageSent))
    }
    return out
  }
}

// ---------------------------------------------------------------------------------------------------
// Import

export interface ImportProblem {
  readonly line: number
  readonly reason: string
}

export interface ParsedLog {
  readonly events: Array<BrokerEvent>
  /** The line each event came from, for reporting problems found later. */
  readonly lineNumbers: Array<number>
  readonly problems: Array<ImportProblem>
  /** Non-empty lines read. */
  readonly lines: number
}

/**
 * Reads an NDJSON export (one stored event per line, as `GET /log` writes it). Every line that is
 * not JSON, not a broker event (`isBrokerEvent`), or not after the previous event is reported by
 * number and skipped; blank lines are ignored.
 */
export const parseNdjson = (text: string): ParsedLog => {
  const events: Array<BrokerEvent> = []
  const lineNumbers: Array<number> = []
  const problems: Array<ImportProblem> = []
  let lines = 0
  let lastSeq = 0
  let lineNumber = 0
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf("\n", start)
    if (end === -1) end = text.length
    lineNumber++
    const line = text.slice(start, end).trim()
    start = end + 1
    if (line === "") continue
    lines++
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      problems.push({ line: lineNumber, reason: `not JSON (${error instanceof Error ? error.message : String(error)})` })
      continue
    }
    if (!isBrokerEvent(value)) {
      problems.push({ line: lineNumber, reason: "not a broker event: it needs a seq, an at, a known type and data" })
      continue
    }
    if (value.seq <= lastSeq) {
      problems.push({ line: lineNumber, reason: `seq ${value.seq} does not follow seq ${lastSeq}` })
      continue
    }
    lastSeq = value.seq
    events.push(value)
    lineNumbers.push(lineNumber)
  }
  return { events, lineNumbers, problems, lines }
}

/**
 * The projects a log's events are of, `default` first, then by name: an export of the whole log (a
 * broker's `events.ndjson`) may hold several, one of `/p/<project>/log` holds one.
 */
export const projectsIn = (events: ReadonlyArray<BrokerEvent>): Array<{ readonly name: string; readonly events: number }> => {
  const counts = new Map<string, number>()
  for (const event of events) {
    const name = projectOf(event)
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  const names = [...counts.keys()].sort((a, b) => (a === defaultProject ? -1 : b === defaultProject ? 1 : a.localeCompare(b)))
  return names.map((name) => ({ name, events: counts.get(name)! }))
}

/** Which of a file's projects an import shows first: the page's own if the file holds it, else the file's first. */
export const projectToShow = (projects: ReadonlyArray<string>, pageProject: string): string =>
  projects.includes(pageProject) ? pageProject : (projects[0] ?? pageProject)

/** The log as NDJSON, the format `GET /log` exports and `parseNdjson` reads. */
export const toNdjson = (events: ReadonlyArray<BrokerEvent>): string => {
  let out = ""
  for (const event of events) out += `${JSON.stringify(event)}\n`
  return out
}

// ---------------------------------------------------------------------------------------------------
// What a person sees

/** A log and where the person is looking in it: following the head, or pinned to a seq. */
export class LogView {
  /** null: following the head (live). */
  pinned: number | null = null

  constructor(readonly timeline: Timeline) {}

  get following(): boolean {
    return this.pinned === null
  }
  get position(): number {
    return this.pinned ?? this.timeline.lastSeq
  }
  /** Events held at or before the position: where the slider is. */
  get count(): number {
    return this.timeline.countAt(this.position)
  }
  /** Events in the log after the position. */
  get behind(): number {
    return this.timeline.length - this.timeline.countAt(this.position)
  }

  /** Move to `seq`; reaching the last event means following the head again. */
  scrubTo(seq: number): void {
    const timeline = this.timeline
    if (!Number.isFinite(seq) || seq >= timeline.lastSeq) this.pinned = null
    else this.pinned = Math.max(timeline.startSeq, Math.floor(seq))
  }

  /** Move to right after the first `count` events (the slider's scale). */
  scrubToCount(count: number): void {
    this.scrubTo(this.timeline.seqAfter(count))
  }

  step(delta: number): void {
    this.scrubTo(this.timeline.stepFrom(this.position, delta))
  }

  goLive(): void {
    this.pinned = null
  }
}

export interface FeedItem {
  /** The seq again, under the name Solid's `reconcile` keys lists by. */
  readonly id: number
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly text: string
  readonly category: Category
  readonly tone: Tone
  readonly event: BrokerEvent
}

export interface Frame {
  /** The seq shown and the time of that event (null before the first). */
  readonly seq: number
  readonly at: string | null
  readonly startSeq: number
  readonly lastSeq: number
  /** Events held, and how many of them are at or before the position (the slider: 0…total). */
  readonly total: number
  readonly count: number
  readonly following: boolean
  readonly behind: number
  readonly state: StateView
  /** The event at the position, described. */
  readonly current: FeedItem | null
  readonly feed: ReadonlyArray<FeedItem>
  readonly channel: { readonly name: string; readonly total: number; readonly messages: ReadonlyArray<MessageView> } | null
}

export interface FrameOptions {
  readonly feedLimit?: number
  readonly feedCategories?: ReadonlySet<Category> | null
  /**
   * Routine heartbeats (of a peer already online: a shared log's periodic ones, or every few
   * seconds in logs written before heartbeats left the log) say little; false hides them. A
   * heartbeat that brought a peer back online is shown either way.
   */
  readonly showHeartbeats?: boolean
  readonly channel?: string | null
  readonly messageLimit?: number
  readonly commandLimit?: number
  /** Only commands in this status (the most recent `commandLimit` of them). */
  readonly commandStatus?: CommandStatus | null
}

/** Names of peers and commands as the state knows them, for sentences. */
export const namesIn = (projection: Pick<ProjectState, "peers" | "commands">): Names => ({
  roleOf: (id) => projection.peers.get(id)?.context.role,
  labelOf: (id) => projection.peers.get(id)?.context.name,
  actionOf: (id) => projection.commands.get(id)?.context.action,
  holderOf: (id) => projection.commands.get(id)?.context.deliveredTo
})

export const feedItem = (event: BrokerEvent, names: Names, revived = false): FeedItem => {
  const { text, category, tone } = describe(event, names, { revived })
  return { id: event.seq, seq: event.seq, at: event.at, type: event.type, text, category, tone, event }
}

/** Everything the panels show at the view's position, computed in one go from one projection. */
export const frameOf = (view: LogView, options: FrameOptions = {}): Frame => {
  const timeline = view.timeline
  const seq = view.position
  const projection = timeline.stateAt(seq)
  const commandLimit = options.commandLimit ?? 200
  const full = stateView(projection, commandLimit)
  const only = options.commandStatus ?? null
  const state = only === null ? full : { ...full, commands: recentCommands(projection, commandLimit, only) }
  const names = namesIn(projection)
  const categories = options.feedCategories ?? null
  const showHeartbeats = options.showHeartbeats ?? true
  const keep =
    categories === null && showHeartbeats
      ? undefined
      : (event: BrokerEvent) =>
          (showHeartbeats || event.type !== "peer.heartbeat" || timeline.revived(event.seq)) &&
          (categories === null || categories.has(categoryOf(event.type)))
  const item = (event: BrokerEvent) => feedItem(event, names, timeline.revived(event.seq))
  const feed = timeline.eventsBefore(seq, options.feedLimit ?? 150, keep).map(item)
  const at = timeline.eventBySeq(seq)
  const current = at === undefined ? null : item(at)
  const channelName = options.channel ?? null
  const channelSnapshot = channelName === null ? undefined : projection.channels.get(channelName)
  const channel =
    channelName === null
      ? null
      : {
          name: channelName,
          total: channelSnapshot ? heldCount(channelSnapshot.context) : 0,
          messages: timeline.messages(projection, channelName, options.messageLimit ?? 200)
        }
  return {
    seq,
    at: projection.at,
    startSeq: timeline.startSeq,
    lastSeq: timeline.lastSeq,
    total: timeline.length,
    count: timeline.countAt(seq),
    following: view.following,
    behind: view.behind,
    state,
    current,
    feed,
    channel
  }
}

/** Who a person can send a command to: the roles of the peers online, and those peers. */
export interface Targets {
  readonly roles: ReadonlyArray<string>
  readonly peers: ReadonlyArray<{ readonly id: string; readonly role: string; readonly name: string | null }>
}

export const targetsIn = (projection: Pick<ProjectState, "peers">): Targets => {
  const peers = [...projection.peers.values()]
    .filter((snapshot) => snapshot.value === "online")
    .map((snapshot) => ({ id: snapshot.context.id, role: snapshot.context.role, name: snapshot.context.name }))
    .sort((a, b) => a.role.localeCompare(b.role) || a.id.localeCompare(b.id))
  return { roles: [...new Set(peers.map((peer) => peer.role))].sort(), peers }
}

/** A command's status at the head, for the command center's "sent" line. */
export const commandNow = (projection: Pick<ProjectState, "commands">, commandId: string) => {
  const snapshot = projection.commands.get(commandId)
  if (!snapshot) return undefined
  const { deliveredTo, result, action, target } = snapshot.context
  return { id: commandId, status: commandStatus(snapshot), deliveredTo, result, action, target }
}
