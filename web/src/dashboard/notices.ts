import { createSignal } from "solid-js"
import type { ImportProblem } from "../store.js"

export interface Notice {
  readonly tone: "error" | "info"
  readonly text: string
}

/** Lines of the live log that could not be read: how many, and the seq of the first. */
export interface Skipped {
  readonly count: number
  readonly firstSeq: number
}

/**
 * The banners: one notice (the next message replaces it) and, apart from it, the count of lines of
 * the live log that could not be read, which stays until dismissed or counted again.
 */
export const createNotices = () => {
  const [notice, setNotice] = createSignal<Notice | null>(null)
  const [skipped, setSkipped] = createSignal<Skipped | null>(null)
  return {
    notice,
    skipped,
    say: (tone: Notice["tone"], text: string) => setNotice({ tone, text }),
    clear: () => setNotice(null),
    setSkipped,
    dismissNotice: () => setNotice(null),
    /** Until more lines are skipped: the count goes on from where it was. */
    dismissSkipped: () => setSkipped(null)
  }
}

export type Notices = ReturnType<typeof createNotices>

/** The banner over a live log with lines the dashboard could not read. */
export const describeSkipped = ({ count, firstSeq }: Skipped): string =>
  `${count.toLocaleString("en-US")} ${count === 1 ? "line" : "lines"} of the log could not be read and ${count === 1 ? "was" : "were"} ` +
  `skipped (${count === 1 ? "at" : "first at"} seq ${firstSeq}): the panels do not show what ${count === 1 ? "it" : "they"} recorded ` +
  "(a broker newer than this dashboard, or a damaged log)."

export const describeProblems = (problems: ReadonlyArray<ImportProblem>, max = 3): string => {
  const shown = problems.slice(0, max).map((p) => `line ${p.line}: ${p.reason}`)
  const more = problems.length > max ? `, and ${problems.length - max} more` : ""
  return `${problems.length} bad line${problems.length === 1 ? "" : "s"} skipped (${shown.join("; ")}${more})`
}
