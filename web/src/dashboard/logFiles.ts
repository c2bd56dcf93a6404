import { batch, createSignal } from "solid-js"
import { projectOf } from "../../../src/core/projects.js"
import { exportUrl, pageProject } from "../connection.js"
import { LogView, parseNdjson, projectsIn, projectToShow, Timeline, toNdjson, type ImportProblem, type ParsedLog } from "../store.js"
import type { FrameLoop } from "./frameLoop.js"
import type { LiveLog } from "./liveLog.js"
import { describeProblems, type Notices } from "./notices.js"

export interface ImportedLog {
  readonly name: string
  readonly view: LogView
  readonly lines: number
  readonly problems: ReadonlyArray<ImportProblem>
  /** The project replayed, and every project the file holds with its count of events (default first). */
  readonly project: string
  readonly projects: ReadonlyArray<{ readonly name: string; readonly events: number }>
}

/** Events replayed per slice of an import, between which the page repaints its progress line. */
const importChunk = 5_000

/**
 * Export and import: the log shown downloads as NDJSON; an NDJSON file replays offline in the same
 * panels until it is closed (the live log is followed all along). While a file is open, it is the
 * log every panel shows.
 *
 * A file may hold several projects (a broker's whole `events.ndjson`); the panels show one project
 * at a time, as the live page does: the page's own if the file holds it, else the file's first, and
 * the file banner offers the others (`showProject`), each replayed from the file when chosen.
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
  /** The open file as read, to replay another of its projects; null with no file open. */
  let opened: { readonly name: string; readonly parsed: ParsedLog } | null = null

  /** Replays one project's events of a parsed file, with a progress line; resolves with what to show. */
  const replay = async (name: string, parsed: ParsedLog, project: string): Promise<ImportedLog> => {
    const problems = [...parsed.problems]
    const timeline = new Timeline({ project })
    const indexes: Array<number> = []
    parsed.events.forEach((event, i) => projectOf(event) === project && indexes.push(i))
    for (let n = 0; n < indexes.length; n++) {
      const i = indexes[n]!
      try {
        timeline.append(parsed.events[i]!)
      } catch (error) {
        problems.push({ line: parsed.lineNumbers[i]!, reason: `the projection rejected it (${String(error)})` })
      }
      if ((n + 1) % importChunk === 0) {
        setBusy(`Replaying ${name}: ${(n + 1).toLocaleString("en-US")} of ${indexes.length.toLocaleString("en-US")} events…`)
        await new Promise((resolve) => setTimeout(resolve, 0))
      }
    }
    problems.sort((a, b) => a.line - b.line)
    return { name, view: new LogView(timeline), lines: parsed.lines, problems, project, projects: projectsIn(parsed.events) }
  }

  const show = (log: ImportedLog) => {
    batch(() => {
      setImported(log)
      onSwitch()
    })
    loop.invalidate()
  }

  const showing = (): "live" | "file" => (imported() === null ? "live" : "file")
  const view = (): LogView => imported()?.view ?? live.view()

  return {
    imported,
    showing,
    /** The log every panel shows: the file, or the live one. */
    view,
    /** A line about work under way: reading a file, or loading the live log. */
    loading: (): string | null => busy() ?? (showing() === "live" ? live.loading() : null),

    /** Download the log shown: the broker's (`GET /log`, the page's project) or the imported file's events of the project shown. */
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
        const { problems } = parsed
        if (parsed.events.length === 0) {
          notices.say("error", `${file.name} holds no broker events${problems.length > 0 ? `: ${describeProblems(problems)}` : ""}.`)
          return
        }
        const project = projectToShow(projectsIn(parsed.events).map((p) => p.name), pageProject)
        const log = await replay(file.name, parsed, project)
        opened = { name: file.name, parsed }
        show(log)
      } catch (error) {
        notices.say("error", `Could not read ${file.name}: ${String(error)}`)
      } finally {
        setBusy(null)
      }
    },

    /** Replay another project of the open file. */
    async showProject(project: string) {
      const file = opened
      if (file === null || imported()?.project === project) return
      setBusy(`Replaying ${file.name}, project ${project}…`)
      try {
        const log = await replay(file.name, file.parsed, project)
        if (opened === file) show(log)
      } finally {
        setBusy(null)
      }
    },

    /** Back to the live broker. */
    closeFile() {
      opened = null
      batch(() => {
        setImported(null)
        onSwitch()
      })
      loop.invalidate()
    }
  }
}

export type LogFiles = ReturnType<typeof createLogFiles>
