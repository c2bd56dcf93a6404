import { createSignal } from "solid-js"

/**
 * One render per animation frame, whatever happened since the last one: a burst of events, a fast
 * drag of the slider. Work that only the latest request matters for (the slider's position) is
 * deferred to that frame; `version` changes once per frame, and everything computed from the log
 * reads it.
 */
export const createFrameLoop = () => {
  const [version, setVersion] = createSignal(0)
  let queued = false
  let deferred: (() => void) | null = null

  const run = () => {
    if (!queued) return
    queued = false
    const work = deferred
    deferred = null
    work?.()
    setVersion((v) => v + 1)
  }

  const invalidate = () => {
    if (queued) return
    queued = true
    requestAnimationFrame(run)
    // A hidden tab gets no animation frames; keep the model current at a slower pace.
    setTimeout(run, 500)
  }

  return {
    version,
    invalidate,
    /** Do `work` on the next frame instead of any work deferred before it. */
    defer(work: () => void) {
      deferred = work
      invalidate()
    },
    /** Forget deferred work: something newer replaces it now. */
    drop() {
      deferred = null
    }
  }
}

export type FrameLoop = ReturnType<typeof createFrameLoop>
