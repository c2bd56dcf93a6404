import type { LogView } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"

/**
 * Where in the shown log the panels look: a position of the slider (applied on the next animation
 * frame, so a fast drag costs one render per frame), a step, or back to the head.
 */
export const createTimeTravel = (loop: FrameLoop, view: () => LogView) => ({
  scrubTo(seq: number) {
    loop.defer(() => view().scrubTo(seq))
  },
  /** The slider: right after the first `count` events of the log shown (a project's seqs have gaps). */
  scrubToCount(count: number) {
    loop.defer(() => view().scrubToCount(count))
  },
  step(delta: number) {
    loop.drop()
    view().step(delta)
    loop.invalidate()
  },
  goLive() {
    loop.drop()
    view().goLive()
    loop.invalidate()
  }
})

export type TimeTravel = ReturnType<typeof createTimeTravel>
