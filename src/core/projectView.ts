import type { ChannelSnapshot } from "./machines/channel.js"
import type { CommandSnapshot, CommandStatus } from "./machines/command.js"
import type { PeerSnapshot } from "./machines/peer.js"
import type { SignalSnapshot } from "./machines/signal.js"
import { isKeyOf, nameOfKey, scoped } from "./projects.js"
import type { Projection } from "./projection.js"
import type { TokenRecord } from "./tokens.js"

/**
 * A project's entities by their names in the project: a live window on the projection's map, whose
 * keys are scoped (projects.ts). Lookups are one scoped `get`; walking it skips other projects' keys.
 */
export class ScopedMap<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly source: ReadonlyMap<string, V>,
    private readonly project: string
  ) {}

  get(name: string): V | undefined {
    return this.source.get(scoped(this.project, name))
  }

  has(name: string): boolean {
    return this.source.has(scoped(this.project, name))
  }

  get size(): number {
    let count = 0
    for (const key of this.source.keys()) if (isKeyOf(key, this.project)) count++
    return count
  }

  *entries(): MapIterator<[string, V]> {
    for (const [key, value] of this.source) if (isKeyOf(key, this.project)) yield [nameOfKey(key), value]
    return undefined
  }

  *keys(): MapIterator<string> {
    for (const key of this.source.keys()) if (isKeyOf(key, this.project)) yield nameOfKey(key)
    return undefined
  }

  *values(): MapIterator<V> {
    for (const [key, value] of this.source) if (isKeyOf(key, this.project)) yield value
    return undefined
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries()
  }
}

/**
 * One project of the projection, as the broker of that project sees it: its peers, commands,
 * channels and signals by the names its clients use, and its queues. What deciders, waits, views
 * and the sweeper read. Tokens are the whole broker's (each names its project).
 */
export class ProjectView implements ProjectState {
  readonly peers: ScopedMap<PeerSnapshot>
  readonly commands: ScopedMap<CommandSnapshot>
  readonly channels: ScopedMap<ChannelSnapshot>
  readonly signals: ScopedMap<SignalSnapshot>

  constructor(
    readonly root: Projection,
    readonly name: string
  ) {
    this.peers = new ScopedMap(root.peers, name)
    this.commands = new ScopedMap(root.commands, name)
    this.channels = new ScopedMap(root.channels, name)
    this.signals = new ScopedMap(root.signals, name)
  }

  get seq(): number {
    return this.root.seq
  }

  get at(): string | null {
    return this.root.at
  }

  get tokens(): ReadonlyMap<string, TokenRecord> {
    return this.root.tokens
  }

  tokenByHash(hash: string): TokenRecord | undefined {
    return this.root.tokenByHash(hash)
  }

  idempotentOriginal(from: string, key: string, nowMs: number): CommandSnapshot | undefined {
    return this.root.idempotentOriginal(scoped(this.name, from), key, nowMs)
  }

  sendsInLastMinute(from: string, target: string, nowMs: number): number {
    return this.root.sendsInLastMinute(scoped(this.name, from), target, nowMs)
  }

  pendingFor(peerId: string, role: string): Array<CommandSnapshot> {
    return this.root.pendingFor(scoped(this.name, peerId), scoped(this.name, role))
  }

  oldestPendingFor(peerId: string, role: string): CommandSnapshot | undefined {
    return this.root.oldestPendingFor(scoped(this.name, peerId), scoped(this.name, role))
  }

  pendingOf(peerId: string, role: string): Generator<CommandSnapshot, undefined> {
    return this.root.pendingOf(scoped(this.name, peerId), scoped(this.name, role))
  }

  heldBy(peerId: string): Array<CommandSnapshot> {
    return this.root.heldBy(scoped(this.name, peerId))
  }

  commandCounts(): Record<CommandStatus, number> {
    return this.root.commandCounts(this.name)
  }

  recentCommands(): Generator<CommandSnapshot, undefined> {
    return this.root.recentCommands(this.name)
  }

  activeCommands(): Generator<CommandSnapshot, undefined> {
    return this.root.activeCommands(this.name)
  }
}

/**
 * What a project's broker reads of the state: a project's view, or the projection itself where one
 * project is all there is (specifications, a replay of one project's export).
 */
export interface ProjectState {
  readonly seq: number
  readonly at: string | null
  readonly peers: ReadonlyMap<string, PeerSnapshot>
  readonly commands: ReadonlyMap<string, CommandSnapshot>
  readonly channels: ReadonlyMap<string, ChannelSnapshot>
  readonly signals: ReadonlyMap<string, SignalSnapshot>
  readonly tokens: ReadonlyMap<string, TokenRecord>
  tokenByHash(hash: string): TokenRecord | undefined
  idempotentOriginal(from: string, key: string, nowMs: number): CommandSnapshot | undefined
  sendsInLastMinute(from: string, target: string, nowMs: number): number
  pendingFor(peerId: string, role: string): Array<CommandSnapshot>
  oldestPendingFor(peerId: string, role: string): CommandSnapshot | undefined
  pendingOf(peerId: string, role: string): Generator<CommandSnapshot, undefined>
  heldBy(peerId: string): Array<CommandSnapshot>
  commandCounts(): Record<CommandStatus, number>
  recentCommands(): Generator<CommandSnapshot, undefined>
  activeCommands(): Generator<CommandSnapshot, undefined>
}
