import type { AnyStateMachine, SnapshotFrom } from "xstate"
import { channelMachine, heldCount, type ChannelContext, type ChannelSnapshot } from "./machines/channel.js"
import { commandMachine, type CommandSnapshot } from "./machines/command.js"
import { peerMachine, type PeerSnapshot } from "./machines/peer.js"
import { signalMachine, type SignalSnapshot } from "./machines/signal.js"
import type { Checkpoint, CheckpointDelta } from "./projection.js"
import { snapshotTemplates } from "./snapshotTemplates.js"
import { defaultProject, projectOfKey, scoped } from "./projects.js"
import type { TokenRecord } from "./tokens.js"

/**
 * A checkpoint as JSON: each entity's state value and context, restored through its machine.
 * Format 2 added the channels' `trimmed` and `ats`; a format-1 checkpoint lacks the times, so it is
 * refused and the broker replays the log instead (and an older broker refuses format 2 the same way).
 * Format 3 was never released (two changes made side by side took 4 and 5). Format 4 added the
 * scoped tokens. Format 5 added the commands' `history` (the seqs of the events that moved each), their
 * dead-letter and idempotency fields (`budgetFrom`, `deadReason`, `ttlFrom`, `idempotencyKey`) and
 * the channels' `keys`: a format-4 or older checkpoint lacks them, so it is refused the same way.
 * Format 6 added the commands' `heldReason` and the `held` and `rejected` states (the approval gate).
 * Format 7 added each entity's `project` (absent for project default): a format-6 checkpoint is
 * read as it is (everything in it is of project default), while a broker of format 6 refuses a
 * format-7 one, which it would read as one project.
 */
export const checkpointFormat = 7
const readableFormats: ReadonlyArray<number> = [6, 7]

export interface StoredCheckpoint {
  readonly format: number
  readonly seq: number
  readonly at: string | null
  readonly peers: ReadonlyArray<StoredEntity>
  readonly commands: ReadonlyArray<StoredEntity>
  readonly channels: ReadonlyArray<StoredEntity>
  readonly signals: ReadonlyArray<StoredEntity>
  readonly tokens: ReadonlyArray<TokenRecord>
}

/**
 * A delta of the checkpoint chain as JSON. A channel carries only the positions (seqs and times) of
 * the messages sent since the previous delta and still held (`seqsFrom` is the id before the first
 * of them), so the chain stores each position once.
 */
export interface StoredDelta extends StoredCheckpoint {
  readonly base: boolean
}

interface StoredEntity {
  /** The entity's project, when it is not `default`. */
  readonly project?: string
  readonly value: string
  readonly context: Record<string, unknown>
}

/** `key`: the entity's key in the projection, which says its project (projects.ts). */
const store = (snapshot: { value: unknown; context: object }, key: string): StoredEntity => {
  const project = projectOfKey(key)
  const entity = { value: snapshot.value as string, context: snapshot.context as Record<string, unknown> }
  return project === defaultProject ? entity : { project, ...entity }
}

/** A channel's context with the positions of its held messages after id `from` (at least `trimmed`). */
const storeChannel = (snapshot: ChannelSnapshot, from: number, key: string): StoredEntity => {
  const { seqs, ats, trimmed } = snapshot.context
  const start = from - trimmed
  const end = heldCount(snapshot.context)
  return store(
    {
      value: snapshot.value,
      context: { ...snapshot.context, seqs: seqs.slice(start, end), ats: ats.slice(start, end), ...(from > 0 ? { seqsFrom: from } : {}) }
    },
    key
  )
}

/**
 * `seqsFrom(key)`: how much of the channel's seq index is stored already (0 for a whole
 * checkpoint); only the part after it that this snapshot can see is encoded (never what a trim
 * dropped).
 */
const encode = (checkpoint: Checkpoint, seqsFrom: (channel: string) => number): StoredCheckpoint => ({
  format: checkpointFormat,
  seq: checkpoint.seq,
  at: checkpoint.at,
  peers: [...checkpoint.peers].map(([key, s]) => store(s, key)),
  commands: [...checkpoint.commands].map(([key, s]) => store(s, key)),
  channels: [...checkpoint.channels].map(([key, s]) => storeChannel(s, Math.max(seqsFrom(key), s.context.trimmed), key)),
  signals: [...checkpoint.signals].map(([key, s]) => store(s, key)),
  tokens: [...checkpoint.tokens.values()]
})

export const encodeCheckpoint = (checkpoint: Checkpoint): StoredCheckpoint => encode(checkpoint, () => 0)

/** Snapshots of one machine from stored entities, on the machine's templates (snapshotTemplates.ts). */
const restorer = <M extends AnyStateMachine>(machine: M) => {
  const { restore } = snapshotTemplates(machine)
  return (entity: StoredEntity): SnapshotFrom<M> => restore(entity.value, entity.context)
}

const decodeInto = <S extends { context: object }>(
  entities: ReadonlyArray<StoredEntity>,
  restore: (entity: StoredEntity) => S,
  key: (snapshot: S) => string
): Map<string, S> => {
  const out = new Map<string, S>()
  for (const entity of entities) {
    const snapshot = restore(entity)
    out.set(scoped(entity.project ?? defaultProject, key(snapshot)), snapshot)
  }
  return out
}

/** Decodes stored checkpoints and the deltas of a chain, in log order. */
export class CheckpointDecoder {
  private readonly peer = restorer(peerMachine)
  private readonly command = restorer(commandMachine)
  private readonly channel = restorer(channelMachine)
  private readonly signal = restorer(signalMachine)
  /** Each channel's context as last decoded (by key): its indexes are shared by its snapshots along a chain, as live. */
  private contexts = new Map<string, ChannelContext>()

  checkpoint(stored: StoredCheckpoint): Checkpoint {
    this.contexts = new Map()
    return this.decode(stored)
  }

  delta(stored: StoredDelta): CheckpointDelta {
    if (stored.base) this.contexts = new Map()
    return { ...this.decode(stored), base: stored.base }
  }

  private decode(stored: StoredCheckpoint): Checkpoint {
    if (!readableFormats.includes(stored.format)) throw new Error(`unknown checkpoint format ${String(stored.format)}`)
    const channels = new Map<string, ChannelSnapshot>()
    for (const entity of stored.channels) {
      const { seqsFrom = 0, ...stored } = entity.context as unknown as ChannelContext & { seqsFrom?: number }
      const key = scoped(entity.project ?? defaultProject, stored.name)
      const context = { ...stored, ...followOn(this.contexts.get(key), stored, seqsFrom) }
      this.contexts.set(key, context)
      channels.set(key, this.channel({ value: entity.value, context }))
    }
    return {
      seq: stored.seq,
      at: stored.at,
      peers: decodeInto(stored.peers, this.peer, (s: PeerSnapshot) => s.context.id),
      commands: decodeInto(stored.commands, this.command, (s: CommandSnapshot) => s.context.id),
      channels,
      signals: decodeInto(stored.signals, this.signal, (s: SignalSnapshot) => s.context.name),
      tokens: new Map(stored.tokens.map((token) => [token.name, token]))
    }
  }
}

/**
 * The indexes of a stored channel: the positions of the previous delta, then the ones stored after
 * them, less what was trimmed in between. Copies what it keeps from `stored`, which may be decoded again.
 */
const followOn = (previous: ChannelContext | undefined, stored: ChannelContext, from: number): Pick<ChannelContext, "seqs" | "ats"> => {
  const { name, count, trimmed } = stored
  let seqs: Array<number>
  let ats: Array<number>
  if (from === trimmed) {
    // Nothing before `from` is held: the positions stored are all there is.
    seqs = [...stored.seqs]
    ats = [...stored.ats]
  } else if (previous !== undefined && previous.count === from && previous.trimmed <= trimmed && from > trimmed) {
    // The decoder owns the previous arrays and extends them only here, in order: older snapshots see
    // only their held part, as live.
    seqs = previous.seqs
    ats = previous.ats
    for (let i = 0; i < stored.seqs.length; i++) {
      seqs.push(stored.seqs[i]!)
      ats.push(stored.ats[i]!)
    }
    const dropped = trimmed - previous.trimmed
    if (dropped > 0) {
      seqs = seqs.slice(dropped)
      ats = ats.slice(dropped)
    }
  } else {
    throw new Error(`checkpoint: channel ${name} does not follow on from the previous delta`)
  }
  if (seqs.length !== count - trimmed || ats.length !== seqs.length) {
    throw new Error(`checkpoint: channel ${name} holds ${seqs.length} positions, not ${count - trimmed}`)
  }
  return { seqs, ats }
}

export const decodeCheckpoint = (stored: StoredCheckpoint): Checkpoint => new CheckpointDecoder().checkpoint(stored)

/** Encodes the deltas of a chain, in log order (each channel's seqs since the previous delta). */
export class DeltaEncoder {
  private counts = new Map<string, number>()

  delta(delta: CheckpointDelta): StoredDelta {
    // Only the seqs since the previous delta: slicing each channel's whole index every delta
    // (and dropping it) made megabytes of garbage per delta on a long log.
    const from = delta.base ? new Map<string, number>() : this.counts
    const stored = encode(delta, (channel) => from.get(channel) ?? 0)
    this.follow(delta)
    return { ...stored, base: delta.base }
  }

  /** Moves past a delta stored already (read back from the chain), without encoding it. */
  follow(delta: CheckpointDelta): void {
    if (delta.base) this.counts = new Map()
    for (const [key, snapshot] of delta.channels) this.counts.set(key, snapshot.context.count)
  }
}
