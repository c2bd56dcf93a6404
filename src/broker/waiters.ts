/**
 * Parked waits, indexed by what they wait for (a peer id or role, a channel, a signal, a command),
 * so that an applied event wakes only the waits it concerns and never scans the others.
 */
export class Waiters<K> {
  private readonly byKey = new Map<K, Set<() => void>>()

  /** Registers `wake` under `key`; the returned function unregisters it. */
  add(key: K, wake: () => void): () => void {
    let set = this.byKey.get(key)
    if (!set) this.byKey.set(key, (set = new Set()))
    set.add(wake)
    return () => {
      set.delete(wake)
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key)
    }
  }

  /** Wakes every wait on `key`; each one unregisters itself when it resumes. */
  wakeAll(key: K): void {
    const set = this.byKey.get(key)
    if (set) for (const wake of [...set]) wake()
  }

  /** Wakes the longest-parked wait on `key`, if any. */
  wakeOne(key: K): boolean {
    const first = this.byKey.get(key)?.values().next()
    if (!first || first.done) return false
    first.value()
    return true
  }

  wakeEverything(): void {
    for (const key of [...this.byKey.keys()]) this.wakeAll(key)
  }

  count(key: K): number {
    return this.byKey.get(key)?.size ?? 0
  }

  get size(): number {
    let n = 0
    for (const set of this.byKey.values()) n += set.size
    return n
  }
}
