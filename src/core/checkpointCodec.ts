import { channelMachine, type ChannelSnapshot } from "./machines/channel.js"
import { commandMachine, type CommandSnapshot } from "./machines/command.js"
import { peerMachine, type PeerSnapshot } from "./machines/peer.js"
import { signalMachine, type SignalSnapshot } from "./machines/signal.js"
import type { Checkpoint } from "./projection.js"

/** A checkpoint as JSON: each entity's state value and context, restored through its machine. */
export interface StoredCheckpoint {
  readonly format: 1
  readonly seq: number
  readonly at: string | null
  readonly peers: ReadonlyArray<StoredEntity>
  readonly commands: ReadonlyArray<StoredEntity>
  readonly channels: ReadonlyArray<StoredEntity>
  readonly signals: ReadonlyArray<StoredEntity>
}

interface StoredEntity {
  readonly value: string
  readonly context: Record<string, unknown>
}

const store = (snapshot: { value: unknown; context: object }): StoredEntity => ({
  value: snapshot.value as string,
  context: snapshot.context as Record<string, unknown>
})

export const encodeCheckpoint = (checkpoint: Checkpoint): StoredCheckpoint => ({
  format: 1,
  seq: checkpoint.seq,
  at: checkpoint.at,
  peers: [...checkpoint.peers.values()].map(store),
  commands: [...checkpoint.commands.values()].map(store),
  // Only the part of the shared seq index this snapshot can see.
  channels: [...checkpoint.channels.values()].map((s) =>
    store({ value: s.value, context: { ...s.context, seqs: s.context.seqs.slice(0, s.context.count) } })
  ),
  signals: [...checkpoint.signals.values()].map(store)
})

export const decodeCheckpoint = (stored: StoredCheckpoint): Checkpoint => {
  if (stored.format !== 1) throw new Error(`unknown checkpoint format ${String(stored.format)}`)
  const peers = new Map<string, PeerSnapshot>()
  for (const e of stored.peers) {
    const s = peerMachine.resolveState({ value: e.value, context: e.context as never })
    peers.set(s.context.id, s)
  }
  const commands = new Map<string, CommandSnapshot>()
  for (const e of stored.commands) {
    const s = commandMachine.resolveState({ value: e.value, context: e.context as never })
    commands.set(s.context.id, s)
  }
  const channels = new Map<string, ChannelSnapshot>()
  for (const e of stored.channels) {
    const s = channelMachine.resolveState({ value: e.value, context: e.context as never })
    channels.set(s.context.name, s)
  }
  const signals = new Map<string, SignalSnapshot>()
  for (const e of stored.signals) {
    const s = signalMachine.resolveState({ value: e.value, context: e.context as never })
    signals.set(s.context.name, s)
  }
  return { seq: stored.seq, at: stored.at, peers, commands, channels, signals }
}
