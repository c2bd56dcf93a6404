import { batch, createSignal } from "solid-js"
import { exportUrl } from "../connection.js"
import { LogView, parseNdjson, Timeline, toNdjson, type ImportProblem } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"
import type { LiveLog } from "./liveLog.js"
import { describeProblems, type Notices } from "./notices.js"

export interface ImportedLog {
  readonly name: string
  readonly view: LogView
  readonly lines: number
  readonly problems: ReadonlyArray<ImportProblem>
}

/** Events replayed per slice of an import, between which the page repaints its progress line. */
const importChunk = 5_000

/**
 * Export and import: the log shown downloads as NDJSON; an NDJSON file replays offline in the same
 * panels until it is closed (the live log is followed all along). While a file is open, it is the
 * log every panel shows.
 */
export const createLogFiles = (
  loop: FrameLoop,
  notices: Notices,
  live: LiveLog,
  /** Called when the log shown changes (a file opened or closed), in the same batch. */
  onSwitch: () => void
) => {
  const [imported, setImported] = createSignal<ImportedLog | null>(null)
  /** What an import is doing (reading, replaying), for the top bar. */
  const [busy, setBusy] = createSignal<string | null>(null)

  const showing = (): "live" | "file" => (imported() === null ? "live" : "file")
  const view = (): LogView => imported()?.view ?? live.view()

  return {
    imported,
    showing,
    /** The log every panel shows: the file, or the live one. */
    view,
    /** A line about work under way: reading a file, or loading the live log. */
    loading: (): string | null => busy() ?? (showing() === "live" ? live.loading() : null),

    /** Download the log shown: the broker's (`GET /log`) or the imported file's events. */
    exportLog() {
      const stamp = new Date().toISOString().replace(/[:.]/g, "-")
      const file = imported()
      const anchor = document.createElement("a")
      let objectUrl: string | null = null
      if (file) {
        objectUrl = URL.createObjectURL(new Blob([toNdjson(file.view.timeline.events)], { type: "application/x-ndjson" }))
        anchor.href = objectUrl
        anchor.download = file.name.replace(/(\.ndjson|\.jsonl|\.json|\.txt)?$/i, "") + ".ndjson"
      } else {
        anchor.href = exportUrl()
        anchor.download = `claude-ipc-broker-log-${stamp}.ndjson`
      }
      document.body.append(anchor)
      anchor.click()
      anchor.remove()
      if (objectUrl !== null) setTimeout(() => URL.revokeObjectURL(objectUrl!), 10_000)
    },

    /** Load an NDJSON export and show it offline, with the same views. Bad lines are reported, not fatal. */
    async importFile(file: File) {
      notices.clear()
      setBusy(`Reading ${file.name}…`)
      try {
        const parsed = parseNdjson(await file.text())
        const problems = [...parsed.problems]
        if (parsed.events.length === 0) {
          notices.say("error", `${file.name} holds no broker events${problems.length > 0 ? `: ${describeProblems(problems)}` : ""}.`)
          return
        }
        const timeline = new Timeline()
        for (let i = 0; i < parsed.events.length; i++) {
          try {
            timeline.append(parsed.events[i]!)
          } catch (error) {
            problems.push({ line: parsed.lineNumbers[i]!, reason: `the projection rejected it (${String(error)})` })
          }
          if ((i + 1) % importChunk === 0) {
            setBusy(`Replaying ${file.name}: ${(i + 1).toLocaleString("en-US")} of ${parsed.events.length.toLocaleString("en-US")} events…`)
            await new Promise((resolve) => setTimeout(resolve, 0))
          }
        }
        problems.sort((a, b) => a.line - b.line)
        batch(() => {
          setImported({ name: file.name, view: new LogView(timeline), lines: parsed.lines, problems })
          onSwitch()
        })
        loop.invalidate()
      } catch (error) {
        notices.say("error", `Could not read ${file.name}: ${String(error)}`)
      } finally {
        setBusy(null)
      }
    },

    /** Back to the live broker. */
    closeFile() {
      batch(() => {
        setImported(null)
        onSwitch()
      })
      loop.invalidate()
    }
  }
}

export type LogFiles = ReturnType<typeof createLogFiles>
