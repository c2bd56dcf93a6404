/**
 * Parked waits, indexed by what they wait for (a peer id or role, a channel, a signal, a command),
 * so that an applied event wakes only the waits it concerns and never scans the others. A wait is
 * its wake-up function, or an object that has one (when whoever wakes it needs more than that).
 */
export type Wake = () => void

export class Waiters<K, W extends Wake | { readonly wake: Wake } = Wake> {
  private readonly byKey = new Map<K, Set<W>>()

  /** Registers `waiter` under `key`; the returned function unregisters it. */
  add(key: K, waiter: W): () => void {
    let set = this.byKey.get(key)
    if (!set) this.byKey.set(key, (set = new Set()))
    set.add(waiter)
    return () => {
      set.delete(waiter)
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key)
    }
  }

  /** Wakes every wait on `key`; each one unregisters itself when it resumes. */
  wakeAll(key: K): void {
    const set = this.byKey.get(key)
    if (set) for (const waiter of [...set]) wake(waiter)
  }

  /** Wakes the longest-parked wait on `key`, if any. */
  wakeOne(key: K): boolean {
    const first = this.byKey.get(key)?.values().next()
    if (!first || first.done) return false
    wake(first.value)
    return true
  }

  /** The waits on `key`, longest-parked first. */
  *on(key: K): IterableIterator<W> {
    const set = this.byKey.get(key)
    if (set) yield* set
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

const wake = (waiter: Wake | { readonly wake: Wake }): void => (typeof waiter === "function" ? waiter() : waiter.wake())
