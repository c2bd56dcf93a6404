import { eventTypes, isBrokerEvent, type BrokerEvent } from "../../src/core/events.js"
import type { WhoAmI } from "../../src/core/principal.js"
import type { CommandView, ProjectSummary } from "../../src/core/views.js"
import { projectOfPath, routePrefix } from "./projectPath.js"

/**
 * The one module that talks to the broker: the log as Server-Sent Events (`GET /events`), who the
 * page's token is (`GET /whoami`), the projects (`GET /projects`), and the few requests a person
 * makes (send or cancel a command, export the log). Everything else the dashboard shows it computes
 * from the events.
 *
 * A page is of one project, the one its address names (`/p/<project>/dashboard`; `/dashboard` is
 * default's), and every request goes to that project's routes (`/p/<project>/log`, …): its log
 * holds that project's events only, with their seqs in the one log.
 */

export type LinkState = "loading" | "connecting" | "live" | "reconnecting"

/** What the connection tells the dashboard: a typed message bus with one listener. */
export type ConnectionMessage =
  | { readonly type: "events"; readonly events: ReadonlyArray<BrokerEvent> }
  | { readonly type: "link"; readonly state: LinkState }
  /** The broker's log is not the one we hold (it restarted with a fresh log): start over. */
  | { readonly type: "restart" }
  /**
   * Lines of the log (of `/log` or frames of `/events`) that were not events this dashboard can
   * read, so far: how many, and the seq of the first. They are skipped, and what they recorded is
   * missing from the panels; saying so is the least we owe the person reading them.
   */
  | { readonly type: "skipped"; readonly count: number; readonly firstSeq: number }

export interface Connection {
  close(): void
}

/** The project this page shows, read once from its address. */
export const pageProject: string = projectOfPath(window.location.pathname)

const prefix = routePrefix(pageProject)
const endpoint = (path: string): string => new URL(prefix + path, window.location.origin).toString()

/** Gaps in the live stream wait this long for others before the log is asked about them, together. */
const gapCheckDelayMs = 500

const yieldToBrowser = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/** A line (or an SSE frame's data) as an event we can show, or `unreadable` with what it says of its seq. */
const readLine = (text: string): BrokerEvent | { readonly unreadable: number | null } => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { unreadable: null }
  }
  if (isBrokerEvent(value)) return value
  // E.g. an event of a type this version does not know (a log from a newer broker, replayed).
  const seq = (value as { seq?: unknown } | null)?.seq
  return { unreadable: typeof seq === "number" && Number.isSafeInteger(seq) ? seq : null }
}

/**
 * Reads `GET /log?from=` (NDJSON, streamed) and hands the events over chunk by chunk, letting the
 * page paint between chunks. One response carries a long history far faster than as many SSE frames.
 * A line that is not an event we can read is reported to `skip` with its seq: its own, else the one
 * after the line before it. The project's log has every line of the project, so what is missing
 * between two seqs is other projects' events, never a line we could not read.
 */
const readHistory = async (
  from: number,
  deliver: (events: Array<BrokerEvent>) => void,
  skip: (seq: number) => void,
  signal: AbortSignal
): Promise<void> => {
  const response = await fetch(endpoint(`/log?from=${from}`), { signal })
  if (!response.ok || response.body === null) throw new Error(`GET /log answered ${response.status}`)
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let rest = ""
  let previous = from - 1
  const parse = (lines: Array<string>) => {
    const events: Array<BrokerEvent> = []
    for (const line of lines) {
      if (line.trim() === "") continue
      const read = readLine(line)
      previous = "unreadable" in read ? (read.unreadable ?? previous + 1) : read.seq
      if ("unreadable" in read) skip(previous)
      else events.push(read)
    }
    if (events.length > 0) deliver(events)
  }
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    rest += decoder.decode(value, { stream: true })
    const lines = rest.split("\n")
    rest = lines.pop() ?? ""
    parse(lines)
    await yieldToBrowser()
  }
  parse([rest + decoder.decode()])
}

/**
 * Follows the log: first the history in one `GET /log` (NDJSON), then `GET /events?from=<next>` as
 * Server-Sent Events for everything after, live. EventSource reconnects by itself and resumes after
 * the last id it saw (`Last-Event-ID`); if the server refuses the stream we catch up again after a
 * pause. After a reconnect we check the broker's head: if it is behind what we hold, the broker
 * restarted with a different log, and we start over from seq 1.
 *
 * The stream skips seqs for two reasons: other projects' events (the log is shared, the stream is
 * this project's), and frames of an event type this version does not know, which EventSource never
 * hands over. Only the project's own log can tell them apart: a gap is looked up in `/log?from=&to=`,
 * and a line of it there is one we could not read.
 */
export const followLog = (send: (message: ConnectionMessage) => void): Connection => {
  let source: EventSource | null = null
  let lastSeq = 0
  let closed = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let everLive = false
  let pending: Array<BrokerEvent> = []
  let flushQueued = false
  let aborter = new AbortController()
  let skipped: { count: number; firstSeq: number; lastSeq: number } | null = null
  /** Seq ranges the stream skipped over, not looked up yet; and whether a lookup is under way or due. */
  let gaps: Array<readonly [number, number]> = []
  let gapCheck: ReturnType<typeof setTimeout> | undefined
  let checkingGaps = false
  /** Counts restarts, so a lookup begun before one does not count lines of the old log. */
  let generation = 0

  /**
   * Counts the lines at seqs `from`..`to` as unreadable, each once: they are met in seq order, but
   * the stream starts after the last event we could read, so lines skipped at the end of the
   * history come again as frames.
   */
  const skip = (from: number, to = from) => {
    const start = Math.max(from, (skipped?.lastSeq ?? 0) + 1)
    if (start > to) return
    skipped = { count: (skipped?.count ?? 0) + to - start + 1, firstSeq: skipped?.firstSeq ?? start, lastSeq: to }
    send({ type: "skipped", count: skipped.count, firstSeq: skipped.firstSeq })
  }

  /** `live`: from the stream, whose gaps may hide lines we could not read (see above). */
  const deliver = (events: ReadonlyArray<BrokerEvent>, live = false) => {
    const fresh = events.filter((event) => event.seq > lastSeq)
    if (fresh.length === 0) return
    if (live) {
      let expected = lastSeq + 1
      for (const event of fresh) {
        if (event.seq > expected) gaps.push([expected, event.seq - 1])
        expected = event.seq + 1
      }
      if (gaps.length > 0) scheduleGapCheck()
    }
    lastSeq = fresh[fresh.length - 1]!.seq
    send({ type: "events", events: fresh })
  }

  const scheduleGapCheck = () => {
    if (gapCheck === undefined && !checkingGaps && !closed) gapCheck = setTimeout(() => void checkGaps(), gapCheckDelayMs)
  }

  /**
   * Looks the gaps met so far up in the project's log, one request for all of them (from the first
   * to the last: it brings our events between them again too, the price of knowing). Mostly they
   * are other projects' events, and the answer holds nothing in them.
   */
  const checkGaps = async () => {
    gapCheck = undefined
    const ranges = gaps
    gaps = []
    if (ranges.length === 0 || closed) return
    checkingGaps = true
    const asked = generation
    try {
      const response = await fetch(endpoint(`/log?from=${ranges[0]![0]}&to=${ranges[ranges.length - 1]![1]}`), { signal: aborter.signal })
      const text = response.ok ? await response.text() : ""
      let r = 0
      for (const line of text.split("\n")) {
        if (asked !== generation) break
        if (line.trim() === "") continue
        const read = readLine(line)
        if (!("unreadable" in read) || read.unreadable === null) continue
        const seq = read.unreadable
        while (r < ranges.length && ranges[r]![1] < seq) r++
        if (r < ranges.length && ranges[r]![0] <= seq) skip(seq)
      }
    } catch {
      // Unreachable or restarted: the gaps stay unexplained, as they were before anyone looked.
    } finally {
      checkingGaps = false
    }
    if (gaps.length > 0) scheduleGapCheck()
  }

  // Frames arrive one task each; hand them over in batches.
  const flush = () => {
    flushQueued = false
    const events = pending
    pending = []
    deliver(events, true)
  }
  const onFrame = (message: MessageEvent<string>) => {
    const event = readLine(message.data)
    if ("unreadable" in event) {
      // The frame's id is its seq.
      const seq = event.unreadable ?? Number(message.lastEventId)
      if (Number.isSafeInteger(seq) && seq > lastSeq) skip(seq)
      return
    }
    pending.push(event)
    if (!flushQueued) {
      flushQueued = true
      setTimeout(flush, 0)
    }
  }

  const catchUp = async () => {
    if (closed) return
    send({ type: "link", state: everLive ? "reconnecting" : "loading" })
    try {
      await readHistory(lastSeq + 1, deliver, skip, aborter.signal)
    } catch {
      // The stream below replays whatever the history did not bring.
    }
    if (!closed) openStream()
  }

  const openStream = () => {
    const es = new EventSource(endpoint(`/events?from=${lastSeq + 1}`))
    source = es
    for (const type of eventTypes) es.addEventListener(type, onFrame as EventListener)
    es.onopen = () => {
      const reopened = everLive
      everLive = true
      send({ type: "link", state: "live" })
      if (reopened) void verifyHead()
    }
    es.onerror = () => {
      if (closed) return
      send({ type: "link", state: "reconnecting" })
      if (es.readyState === EventSource.CLOSED) {
        // The server answered but not with a stream: try again ourselves, after a pause.
        es.close()
        retry = setTimeout(() => void catchUp(), 2_000)
      }
    }
  }

  /** A broker that restarted with a fresh log has a head behind ours. */
  const verifyHead = async () => {
    try {
      const head = await logHead()
      if (head !== null && head < lastSeq && !closed) {
        source?.close()
        aborter.abort()
        aborter = new AbortController()
        pending = []
        lastSeq = 0
        skipped = null
        gaps = []
        generation++
        send({ type: "restart" })
        void catchUp()
      }
    } catch {
      // Unreachable again: EventSource keeps retrying.
    }
  }

  void catchUp()
  return {
    close: () => {
      closed = true
      aborter.abort()
      if (retry !== undefined) clearTimeout(retry)
      if (gapCheck !== undefined) clearTimeout(gapCheck)
      source?.close()
    }
  }
}

/** The broker's log head, from `/status`. */
const logHead = async (): Promise<number | null> => {
  const response = await fetch(endpoint("/status"))
  if (!response.ok) return null
  const body = (await response.json()) as { log?: { head?: unknown } }
  return typeof body.log?.head === "number" ? body.log.head : null
}

/**
 * Who this page is to the broker (its token, and what the rights table lets it do), or null when the
 * broker cannot say: unreachable, or too old to know `/whoami`.
 */
export const whoAmI = async (): Promise<WhoAmI | null> => {
  try {
    const response = await fetch(endpoint("/whoami"), { headers: { accept: "application/json" } })
    if (!response.ok) return null
    const body = (await response.json()) as Partial<WhoAmI> | null
    if (body === null || typeof body !== "object" || typeof body.kind !== "string") return null
    return typeof body.may === "object" && body.may !== null ? (body as WhoAmI) : null
  } catch {
    return null
  }
}

/**
 * The projects of the broker (`GET /projects`), for a switcher between their dashboards; null when
 * this page may not look across projects (403: only the admin token and trusted loopback may) or
 * the broker cannot say.
 */
export const listProjects = async (): Promise<ReadonlyArray<string> | null> => {
  try {
    const response = await fetch(endpoint("/projects"), { headers: { accept: "application/json" } })
    if (!response.ok) return null
    const body = (await response.json()) as { projects?: ReadonlyArray<Partial<ProjectSummary>> } | null
    if (!Array.isArray(body?.projects)) return null
    return body.projects.flatMap((project) => (typeof project.name === "string" ? [project.name] : []))
  } catch {
    return null
  }
}

/** A refusal from the broker, with its message (`{"error":{"code","message"}}`). */
export class BrokerRefused extends Error {
  constructor(
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

const post = async <A>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<A> => {
  let response: Response
  try {
    response = await fetch(endpoint(path), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? null : JSON.stringify(body)
    })
  } catch {
    throw new BrokerRefused("unreachable", "the broker cannot be reached")
  }
  const answer = (await response.json().catch(() => null)) as { error?: { code: string; message: string } } | null
  if (!response.ok) {
    throw new BrokerRefused(answer?.error?.code ?? String(response.status), answer?.error?.message ?? response.statusText)
  }
  return answer as A
}

/** Whom the dashboard speaks for: commands it sends come from "human". */
export const dashboardSender = "human"

export const sendCommand = (request: { readonly target: string; readonly action: string; readonly params: unknown }) =>
  post<CommandView>("/commands/send", { from: dashboardSender, ...request })

/**
 * Cancel a command. The dashboard names itself ("human") only for the commands it sent, which their
 * sender may always cancel; anything else it cancels as an anonymous caller, who may cancel any.
 */
export const cancelCommand = (commandId: string, sentBy: string) =>
  post<CommandView>(
    `/commands/${encodeURIComponent(commandId)}/cancel`,
    undefined,
    sentBy === dashboardSender ? { "x-peer-id": dashboardSender } : {}
  )

/**
 * Put a dead, failed or expired command back to pending. Always as an anonymous caller: a
 * redelivery is a person's decision, and the broker refuses it to anyone naming a peer.
 */
export const redeliverCommand = (commandId: string) =>
  post<CommandView>(`/commands/${encodeURIComponent(commandId)}/redeliver`, undefined, {})

/** Let a held command through, or refuse it: as an anonymous caller, a person's decision, as for a redelivery. */
export const decideHeldCommand = (commandId: string, verb: "approve" | "reject") =>
  post<CommandView>(`/commands/${encodeURIComponent(commandId)}/${verb}`, undefined, {})

/** Where the whole log downloads as NDJSON. */
export const exportUrl = (): string => endpoint("/log")
