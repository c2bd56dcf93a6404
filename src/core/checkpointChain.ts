import type { ChannelSnapshot } from "./machines/channel.js"
import type { CommandSnapshot } from "./machines/command.js"
import type { PeerSnapshot } from "./machines/peer.js"
import type { SignalSnapshot } from "./machines/signal.js"
import type { Checkpoint, CheckpointDelta } from "./projection.js"

/**
 * Spaced checkpoints along the log, kept as deltas (`Projection.takeDelta`), so that time travel
 * folds at most the events between two of them, and keeping a checkpoint every few thousand events
 * costs what changed in between rather than a copy of every entity map each time. Rebuilding one
 * applies the deltas since the last base: a map set per entity version, far cheaper than a fold.
 */
export class CheckpointChain {
  private entries: Array<CheckpointDelta> = []

  /** Beyond `maxEntries`, neighbours are merged two by two (the spacing doubles). */
  constructor(readonly maxEntries = 1024) {}

  /** The seq of the newest checkpoint, 0 when there is none. */
  get last(): number {
    return this.entries.at(-1)?.seq ?? 0
  }

  get size(): number {
    return this.entries.length
  }

  /** In log order; the first is a base. */
  get deltas(): ReadonlyArray<CheckpointDelta> {
    return this.entries
  }

  /**
   * Appends the delta after the newest one; false (and nothing kept) when it does not follow on:
   * not newer, or a chain started without a base. True when it was kept and the chain was thinned.
   */
  add(delta: CheckpointDelta): { readonly kept: boolean; readonly thinned: boolean } {
    if (delta.seq <= this.last || (this.entries.length === 0 && !delta.base)) return { kept: false, thinned: false }
    this.entries.push(delta)
    if (this.entries.length <= this.maxEntries) return { kept: true, thinned: false }
    const thinned: Array<CheckpointDelta> = []
    for (let i = 0; i < this.entries.length; i += 2) {
      const next = this.entries[i + 1]
      thinned.push(next === undefined ? this.entries[i]! : merge(this.entries[i]!, next))
    }
    this.entries = thinned
    return { kept: true, thinned: true }
  }

  /** The newest checkpoint at or before `seq`, rebuilt; undefined when the chain starts after it. */
  at(seq: number): Checkpoint | undefined {
    let newest = -1
    for (let lo = 0, hi = this.entries.length - 1; lo <= hi; ) {
      const mid = (lo + hi) >> 1
      if (this.entries[mid]!.seq <= seq) (newest = mid), (lo = mid + 1)
      else hi = mid - 1
    }
    if (newest < 0) return undefined
    let base = newest
    while (!this.entries[base]!.base) base--
    const peers = new Map<string, PeerSnapshot>()
    const commands = new Map<string, CommandSnapshot>()
    const channels = new Map<string, ChannelSnapshot>()
    const signals = new Map<string, SignalSnapshot>()
    for (let i = base; i <= newest; i++) {
      const delta = this.entries[i]!
      setAll(peers, delta.peers)
      setAll(commands, delta.commands)
      setAll(channels, delta.channels)
      setAll(signals, delta.signals)
    }
    const { seq: at, at: time } = this.entries[newest]!
    return { seq: at, at: time, peers, commands, channels, signals, tokens: this.entries[newest]!.tokens }
  }
}

const setAll = <V>(into: Map<string, V>, from: ReadonlyMap<string, V>): void => {
  for (const [key, value] of from) into.set(key, value)
}

const union = <V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): Map<string, V> => {
  const out = new Map(a)
  setAll(out, b)
  return out
}

/** One delta doing the work of two neighbours; a base needs nothing before it, so it stays as it is. */
const merge = (older: CheckpointDelta, newer: CheckpointDelta): CheckpointDelta =>
  newer.base
    ? newer
    : {
        seq: newer.seq,
        at: newer.at,
        base: older.base,
        peers: union(older.peers, newer.peers),
        commands: union(older.commands, newer.commands),
        channels: union(older.channels, newer.channels),
        signals: union(older.signals, newer.signals),
        tokens: newer.tokens
      }
