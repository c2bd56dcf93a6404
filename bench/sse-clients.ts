/**
 * SSE consumers for the SSE scenario, in a process of their own so that parsing a million frames
 * competes neither with the server nor with the process producing the events.
 *
 * Forked by the harness with IPC. It opens `clients` streams on `url`, says `ready`, then counts
 * `message.sent` frames and measures each one's lag (receive time minus the event's `at`) until
 * every client has `expect` of them (sent once the producer is done) or the deadline passes.
 */
import { request } from "node:http"
import type { ClientRequest } from "node:http"

export interface SseStart {
  readonly type: "start"
  readonly url: string
  readonly clients: number
  /** Upper bound on events per client, to size the lag buffers. */
  readonly capacity: number
  readonly deadlineMs: number
}
export interface SseExpect {
  readonly type: "expect"
  readonly count: number
  readonly graceMs: number
}
export type SseCommand = SseStart | SseExpect

export interface SseReady {
  readonly type: "ready"
}
export interface SseDone {
  readonly type: "done"
  readonly received: ReadonlyArray<number>
  /** Epoch ms of the first and last `message.sent` frame any client received. */
  readonly firstAt: number
  readonly lastAt: number
  readonly lagP50Ms: number
  readonly lagP99Ms: number
  readonly lagMaxMs: number
  readonly errors: ReadonlyArray<string>
}
export type SseReport = SseReady | SseDone

const marker = "event: message.sent\n"
const atKey = '"at":"'

const send = (message: SseReport) => process.send!(message)

const run = (start: SseStart) => {
  const received = new Array<number>(start.clients).fill(0)
  const lags = Array.from({ length: start.clients }, () => new Float64Array(start.capacity))
  const requests: Array<ClientRequest> = []
  const errors: Array<string> = []
  let firstAt = 0
  let lastAt = 0
  let open = 0
  let expected = Infinity
  let finished = false

  const finish = () => {
    if (finished) return
    finished = true
    for (const req of requests) req.destroy()
    let total = 0
    for (const n of received) total += n
    const all = new Float64Array(total)
    let offset = 0
    received.forEach((n, i) => {
      all.set(lags[i]!.subarray(0, Math.min(n, start.capacity)), offset)
      offset += Math.min(n, start.capacity)
    })
    all.sort()
    const q = (p: number) => (all.length === 0 ? NaN : all[Math.min(all.length - 1, Math.max(0, Math.ceil(p * all.length) - 1))]!)
    send({
      type: "done",
      received,
      firstAt,
      lastAt,
      lagP50Ms: q(0.5),
      lagP99Ms: q(0.99),
      lagMaxMs: all.length === 0 ? NaN : all[all.length - 1]!,
      errors: errors.slice(0, 10)
    })
    setTimeout(() => process.exit(0), 50)
  }
  const checkDone = () => {
    if (received.every((n) => n >= expected)) finish()
  }
  setTimeout(finish, start.deadlineMs).unref()

  for (let c = 0; c < start.clients; c++) {
    const req = request(`${start.url}/events`, { agent: false, headers: { accept: "text/event-stream" } }, (res) => {
      res.setEncoding("utf8")
      let buffer = ""
      let announced = false
      let lastText = ""
      let lastMs = 0
      res.on("data", (chunk: string) => {
        if (!announced) {
          announced = true
          if (++open === start.clients) send({ type: "ready" })
        }
        const now = Date.now()
        buffer += chunk
        let end = buffer.lastIndexOf("\n\n")
        if (end < 0) return
        const complete = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let from = 0
        while ((from = complete.indexOf(marker, from)) >= 0) {
          from += marker.length
          const at = complete.indexOf(atKey, from)
          const n = received[c]!
          if (at >= 0 && n < start.capacity) {
            // Events of one batch share their `at`: parse each distinct timestamp once.
            const text = complete.slice(at + atKey.length, at + atKey.length + 24)
            if (text !== lastText) {
              lastText = text
              lastMs = Date.parse(text)
            }
            lags[c]![n] = now - lastMs
          }
          received[c] = n + 1
          if (firstAt === 0) firstAt = now
          lastAt = now
        }
        if (received[c]! >= expected) checkDone()
      })
      res.on("error", (error) => errors.push(String(error)))
    })
    req.on("error", (error) => {
      if (!finished) errors.push(String(error))
    })
    req.end()
    requests.push(req)
  }

  return (expect: SseExpect) => {
    expected = expect.count
    checkDone()
    setTimeout(finish, expect.graceMs).unref()
  }
}

let onExpect: ((expect: SseExpect) => void) | undefined
process.on("message", (message: SseCommand) => {
  if (message.type === "start") onExpect = run(message)
  else onExpect?.(message)
})
process.on("disconnect", () => process.exit(0))
