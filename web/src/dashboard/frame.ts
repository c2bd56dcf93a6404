import { createEffect, createMemo, createSignal, onCleanup } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import type { PeerView } from "../../../src/core/views.js"
import { frameOf, type Frame } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"
import type { LogFiles } from "./logFiles.js"
import type { Selections } from "./selections.js"

/**
 * Timings in the browser's performance timeline (DevTools, and the tests' measurements), cleared
 * now and then so a page open all day does not collect them forever.
 */
const measured = new Map<string, number>()
const measure = (name: string, start: number) => {
  try {
    performance.measure(name, { start, end: performance.now() })
    const count = (measured.get(name) ?? 0) + 1
    measured.set(name, count % 2_000)
    if (count === 2_000) performance.clearMeasures(name)
  } catch {
    // Older browsers without measure options: timings are a nicety.
  }
}

/**
 * What every panel shows: the frame at the shown log's position, kept in a Solid store with
 * `reconcile`, so a new event or a step of the slider updates only the rows that changed. Computed
 * once per animation frame (the loop's `version`) or when a selection changes.
 */
export const createFrame = (loop: FrameLoop, files: LogFiles, selections: Selections) => {
  const computed = createMemo(() => {
    loop.version()
    const started = performance.now()
    const category = selections.feedCategory()
    const next = frameOf(files.view(), {
      channel: selections.channel(),
      feedCategories: category === null ? null : new Set([category]),
      showHeartbeats: selections.showHeartbeats(),
      commandStatus: selections.commandStatus(),
      commandLimit: selections.commandLimit(),
      feedLimit: selections.feedLimit()
    })
    measure("dashboard:state", started)
    return next
  })
  const [frame, setFrame] = createStore<Frame>(computed())
  createEffect(() => {
    const started = performance.now()
    setFrame(reconcile(computed(), { key: "id", merge: false }))
    measure("dashboard:render", started)
  })

  const [now, setNow] = createSignal(Date.now())
  const clock = setInterval(() => setNow(Date.now()), 1_000)
  onCleanup(() => clearInterval(clock))

  /** The peers at the position, by id: a sender or holder is shown by role (and label) first. */
  const peers = createMemo(() => new Map(frame.state.peers.map((peer) => [peer.id, peer] as const)))

  return {
    frame,
    now,
    /** What "ago" is measured from: now when following the live broker, else the time of the event shown. */
    reference: (): number => {
      const at = frame.at === null ? Number.NaN : Date.parse(frame.at)
      if (files.showing() === "live" && frame.following) return Math.max(now(), Number.isNaN(at) ? 0 : at)
      return Number.isNaN(at) ? now() : at
    },
    /** The peer with this id at the position shown, if it is one. */
    peer: (id: string | null | undefined): PeerView | undefined => (id == null ? undefined : peers().get(id))
  }
}

export type FrameStore = ReturnType<typeof createFrame>
