/**
 * Work keyed by a string that must not run twice at once on this node: an idempotent send in flight
 * (sender + key). A repeat that arrives while the first runs does not start a second append; it is
 * queued and runs again once the first has answered, when it finds the original in the projection.
 */
export interface OneAtATime {
  /** Starts `run` for `key`, or queues `again` while a run for that key is in flight. */
  readonly run: <A>(key: string, again: () => void, start: (finish: (result: A) => void) => void, done: (result: A) => void) => void
}

export const oneAtATime = (): OneAtATime => {
  const inFlight = new Map<string, Array<() => void>>()
  return {
    run: (key, again, start, done) => {
      const waiting = inFlight.get(key)
      if (waiting !== undefined) {
        waiting.push(again)
        return
      }
      inFlight.set(key, [])
      start((result) => {
        const after = inFlight.get(key) ?? []
        inFlight.delete(key)
        done(result)
        for (const retry of after) retry()
      })
    }
  }
}
