import { batch, createEffect, createMemo, createSignal, onCleanup } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import type { CommandStatus } from "../../src/core/machines/command.js"
import { BrokerRefused, cancelCommand, exportUrl, followLog, sendCommand, type ConnectionMessage, type LinkState } from "./connection.js"
import type { Category } from "./describe.js"
import {
  commandNow,
  frameOf,
  LogView,
  parseNdjson,
  targetsIn,
  Timeline,
  toNdjson,
  type Frame,
  type ImportProblem,
  type Targets
} from "./store.js"

/**
 * The store bound to Solid: the live log and an imported one, which of them is shown and where, and
 * the frame (every panel's data at that position) kept in a Solid store with `reconcile`, so that a
 * new event or a step of the slider updates only the rows that changed. Work is coalesced to one
 * frame per animation frame however fast events arrive or the slider moves.
 */

export interface ImportedLog {
  readonly name: string
  readonly view: LogView
  readonly lines: number
  readonly problems: ReadonlyArray<ImportProblem>
}

export type Theme = "system" | "light" | "dark"

export interface SentCommand {
  readonly id: string
  readonly action: string
  readonly target: string
}

const themeKey = "claude-ipc-broker:theme"
/**
 * Rows the panels render at first: more than a screenful, few enough that a step of the slider
 * repaints quickly. "Show more" raises them.
 */
export const initialRows = 60
const maxRows = 1_000

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

export const createDashboard = () => {
  let live = new LogView(new Timeline())
  const [link, setLink] = createSignal<LinkState>("connecting")
  const [imported, setImported] = createSignal<ImportedLog | null>(null)
  const [showing, setShowing] = createSignal<"live" | "file">("live")
  const [version, setVersion] = createSignal(0)
  /** What takes a while (an import); the live log's loading shows from `link`. */
  const [busy, setBusy] = createSignal<string | null>(null)
  const [channel, setChannel] = createSignal<string | null>(null)
  const [feedCategory, setFeedCategory] = createSignal<Category | null>(null)
  const [showHeartbeats, setShowHeartbeats] = createSignal(true)
  const [commandStatus, setCommandStatus] = createSignal<CommandStatus | null>(null)
  const [commandLimit, setCommandLimit] = createSignal(initialRows)
  const [feedLimit, setFeedLimit] = createSignal(initialRows)
  const [sent, setSent] = createSignal<ReadonlyArray<SentCommand>>([])
  const [notice, setNotice] = createSignal<{ readonly tone: "error" | "info"; readonly text: string } | null>(null)
  /** Lines of the live log that could not be read (kept apart from `notice`, which the next message replaces). */
  const [skipped, setSkipped] = createSignal<{ readonly count: number; readonly firstSeq: number } | null>(null)
  const [now, setNow] = createSignal(Date.now())
  const [theme, setThemeSignal] = createSignal<Theme>(readTheme())

  const view = (): LogView => (showing() === "file" ? (imported()?.view ?? live) : live)

  // One render per animation frame, whatever happened since the last one.
  let queued = false
  let requestedSeq: number | null = null
  const invalidate = () => {
    if (queued) return
    queued = true
    const run = () => {
      if (!queued) return
      queued = false
      if (requestedSeq !== null) {
        view().scrubTo(requestedSeq)
        requestedSeq = null
      }
      setVersion((v) => v + 1)
    }
    requestAnimationFrame(run)
    // A hidden tab gets no animation frames; keep the model current at a slower pace.
    setTimeout(run, 500)
  }

  const frame = createMemo(() => {
    version()
    const started = performance.now()
    const next = frameOf(view(), {
      channel: channel(),
      feedCategories: feedCategory() === null ? null : new Set([feedCategory()!]),
      showHeartbeats: showHeartbeats(),
      commandStatus: commandStatus(),
      commandLimit: commandLimit(),
      feedLimit: feedLimit()
    })
    measure("dashboard:state", started)
    return next
  })
  const [shown, setShown] = createStore<Frame>(frameOf(live))
  createEffect(() => {
    const started = performance.now()
    setShown(reconcile(frame(), { key: "id", merge: false }))
    measure("dashboard:render", started)
  })

  /** Roles and peers online now (the live head), for the command center. */
  const targets = createMemo<Targets>(() => {
    version()
    return targetsIn(live.timeline.headProjection)
  })

  /** The status of the commands sent from here, at the live head. */
  const sentStatus = createMemo(() => {
    version()
    return sent().map((command) => ({ ...command, now: commandNow(live.timeline.headProjection, command.id) }))
  })

  // The live log.
  const receive = (message: ConnectionMessage) => {
    switch (message.type) {
      case "events": {
        for (const event of message.events) {
          try {
            live.timeline.append(event)
          } catch (error) {
            // The core cannot apply it: say so once rather than stop following the log.
            setNotice({ tone: "error", text: `Event #${event.seq} (${event.type}) could not be applied: ${String(error)}` })
          }
        }
        invalidate()
        return
      }
      case "link":
        setLink(message.state)
        return
      case "skipped":
        setSkipped({ count: message.count, firstSeq: message.firstSeq })
        return
      case "restart":
        live = new LogView(new Timeline())
        setSkipped(null)
        setNotice({ tone: "info", text: "The broker restarted with a different log: replaying it from the start." })
        invalidate()
        return
    }
  }

  const start = () => {
    const connection = followLog(receive)
    const clock = setInterval(() => setNow(Date.now()), 1_000)
    onCleanup(() => {
      connection.close()
      clearInterval(clock)
    })
  }

  // Theme.
  createEffect(() => {
    const chosen = theme()
    const root = document.documentElement
    if (chosen === "system") delete root.dataset.theme
    else root.dataset.theme = chosen
    try {
      if (chosen === "system") localStorage.removeItem(themeKey)
      else localStorage.setItem(themeKey, chosen)
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  })

  const actions = {
    /** Move the slider; applied on the next animation frame, so a fast drag costs one render per frame. */
    scrubTo(seq: number) {
      requestedSeq = seq
      invalidate()
    },
    step(delta: number) {
      requestedSeq = null
      view().step(delta)
      invalidate()
    },
    goLive() {
      requestedSeq = null
      view().goLive()
      invalidate()
    },
    selectChannel(name: string | null) {
      setChannel(name)
    },
    setFeedCategory,
    setShowHeartbeats,
    setCommandStatus,
    moreCommands: () => setCommandLimit((n) => Math.min(maxRows, n + 100)),
    moreEvents: () => setFeedLimit((n) => Math.min(maxRows, n + 100)),
    dismissNotice: () => setNotice(null),
    /** Until more lines are skipped: the count goes on from where it was. */
    dismissSkipped: () => setSkipped(null),
    cycleTheme() {
      setThemeSignal((t) => (t === "system" ? (prefersDark() ? "light" : "dark") : t === "dark" ? "light" : "dark"))
    },
    async send(request: { readonly target: string; readonly action: string; readonly params: unknown }) {
      const command = await sendCommand(request)
      setSent((list) => [{ id: command.id, action: command.action, target: command.target }, ...list].slice(0, 5))
      invalidate()
      return command
    },
    async cancel(commandId: string, sentBy: string) {
      try {
        await cancelCommand(commandId, sentBy)
      } catch (error) {
        setNotice({ tone: "error", text: error instanceof BrokerRefused ? error.message : String(error) })
      }
    },
    /** Download the log shown: the broker's (`GET /log`) or the imported file's events. */
    exportLog() {
      const stamp = new Date().toISOString().replace(/[:.]/g, "-")
      const file = showing() === "file" ? imported() : null
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
      setNotice(null)
      setBusy(`Reading ${file.name}…`)
      try {
        const parsed = parseNdjson(await file.text())
        const problems = [...parsed.problems]
        if (parsed.events.length === 0) {
          setNotice({
            tone: "error",
            text: `${file.name} holds no broker events${problems.length > 0 ? `: ${describeProblems(problems)}` : ""}.`
          })
          return
        }
        const timeline = new Timeline()
        const chunk = 5_000
        for (let i = 0; i < parsed.events.length; i++) {
          try {
            timeline.append(parsed.events[i]!)
          } catch (error) {
            problems.push({ line: parsed.lineNumbers[i]!, reason: `the projection rejected it (${String(error)})` })
          }
          if ((i + 1) % chunk === 0) {
            setBusy(`Replaying ${file.name}: ${(i + 1).toLocaleString("en-US")} of ${parsed.events.length.toLocaleString("en-US")} events…`)
            await new Promise((resolve) => setTimeout(resolve, 0))
          }
        }
        problems.sort((a, b) => a.line - b.line)
        batch(() => {
          setImported({ name: file.name, view: new LogView(timeline), lines: parsed.lines, problems })
          setShowing("file")
          setChannel(null)
        })
        invalidate()
      } catch (error) {
        setNotice({ tone: "error", text: `Could not read ${file.name}: ${String(error)}` })
      } finally {
        setBusy(null)
      }
    },
    closeFile() {
      batch(() => {
        setShowing("live")
        setImported(null)
        setChannel(null)
      })
      invalidate()
    }
  }

  /** What "ago" is measured from: now when following the live broker, else the time of the event shown. */
  const reference = () => {
    const at = shown.at === null ? Number.NaN : Date.parse(shown.at)
    if (showing() === "live" && shown.following) return Math.max(now(), Number.isNaN(at) ? 0 : at)
    return Number.isNaN(at) ? now() : at
  }

  /** A line about work under way: loading the live log, or reading a file. */
  const loading = () => {
    if (busy() !== null) return busy()
    if (showing() === "live" && link() === "loading") {
      version()
      return `Loading the log: ${live.timeline.length.toLocaleString("en-US")} events…`
    }
    return null
  }

  return {
    frame: shown,
    reference,
    link,
    imported,
    showing,
    loading,
    channel,
    feedCategory,
    showHeartbeats,
    commandStatus,
    commandLimit,
    feedLimit,
    sent: sentStatus,
    targets,
    notice,
    skipped,
    now,
    theme,
    start,
    actions
  }
}

export type Dashboard = ReturnType<typeof createDashboard>

/** The banner over a live log with lines the dashboard could not read. */
export const describeSkipped = ({ count, firstSeq }: { readonly count: number; readonly firstSeq: number }): string =>
  `${count.toLocaleString("en-US")} ${count === 1 ? "line" : "lines"} of the log could not be read and ${count === 1 ? "was" : "were"} ` +
  `skipped (${count === 1 ? "at" : "first at"} seq ${firstSeq}): the panels do not show what ${count === 1 ? "it" : "they"} recorded ` +
  "(a broker newer than this dashboard, or a damaged log)."

export const describeProblems = (problems: ReadonlyArray<ImportProblem>, max = 3): string => {
  const shown = problems.slice(0, max).map((p) => `line ${p.line}: ${p.reason}`)
  const more = problems.length > max ? `, and ${problems.length - max} more` : ""
  return `${problems.length} bad line${problems.length === 1 ? "" : "s"} skipped (${shown.join("; ")}${more})`
}

const prefersDark = (): boolean => window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false

function readTheme(): Theme {
  try {
    const stored = localStorage.getItem(themeKey)
    return stored === "light" || stored === "dark" ? stored : "system"
  } catch {
    return "system"
  }
}
