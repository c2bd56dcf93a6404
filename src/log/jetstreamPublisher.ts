import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"

/** JetStream's PubAck: where the message landed; `duplicate` when its msg id was stored before. */
export interface Ack {
  readonly seq: number
  readonly duplicate: boolean
}

/** JetStream refused a publish (e.g. err_code 10071, "wrong last sequence: 41"). Never retried. */
export class PublishRefused extends Error {
  constructor(
    readonly errCode: number,
    readonly description: string
  ) {
    super(`JetStream refused the publish: ${description} (err_code ${errCode})`)
    this.name = "PublishRefused"
  }
}

/** No PubAck before the append's deadline, every retry included. */
export class AckTimeout extends Error {
  constructor(attempts: number) {
    super(`no answer from JetStream in time (${attempts} attempt${attempts === 1 ? "" : "s"})`)
    this.name = "AckTimeout"
  }
}

export type AckCallback = (error: Error | undefined, ack: Ack | undefined) => void

interface Pending {
  readonly body: string
  readonly msgID: string
  readonly lastSequence: number | undefined
  readonly deadline: number
  readonly done: AckCallback
  readonly token: string
  sentAt: number
  attempts: number
  /** A retry is scheduled (after a 503): the timeout sweep leaves it alone. */
  retrying: boolean
}

export interface PublisherOptions {
  readonly subject: string
  /** How long one attempt waits for its PubAck before it is sent again with the same msg id. */
  readonly ackTimeoutMs: number
  readonly closed: () => boolean
}

/**
 * Pipelined publishes with one subscription for all their PubAcks. `js.publish` is a request per
 * message: a reply subscription entry, a timer and a promise each, and (since each HTTP request
 * arrives in a callback of its own) a socket write each. Here the publishes made during one pass of
 * the event loop are queued and written together on the next `setImmediate` — one socket write per
 * loop pass, in call order, so a node's appends land in the order it made them — and their acks come
 * back on one wildcard inbox, matched by the reply token. One sweep timer, not a timer per message,
 * re-sends an attempt that got no ack in `ackTimeoutMs`, with the same `Nats-Msg-Id`, so that the
 * stream answers a retry whose first attempt did land as a duplicate with the original seq.
 */
export class Publisher {
  private readonly inbox = createInbox()
  private readonly pending = new Map<string, Pending>()
  private queue: Array<Pending> = []
  private flushScheduled = false
  private sweeper: ReturnType<typeof setInterval> | undefined
  private counter = 0
  private readonly subscription: Subscription

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: PublisherOptions
  ) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (error, msg) => {
        if (error === null) this.onAck(msg)
      }
    })
  }

  /** Queue one publish; `done` is called once, with its ack or why it failed. */
  publish(body: string, msgID: string, deadline: number, done: AckCallback, lastSequence?: number): void {
    const pending: Pending = {
      body,
      msgID,
      lastSequence,
      deadline,
      done,
      token: String(++this.counter),
      sentAt: 0,
      attempts: 0,
      retrying: false
    }
    this.pending.set(pending.token, pending)
    this.queue.push(pending)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(this.sweep, Math.max(10, Math.min(250, this.options.ackTimeoutMs / 4)))
      this.sweeper.unref()
    }
  }

  /** Publishes waiting for their ack, and those queued for the next write. */
  get inFlight(): number {
    return this.pending.size
  }

  /** Fail everything in flight (the log is closing). */
  close(error: Error): void {
    this.subscription.unsubscribe()
    for (const pending of [...this.pending.values()]) this.settle(pending, error, undefined)
    this.queue = []
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    const batch = this.queue
    this.queue = []
    // Every publish of this pass goes into the client's outbound buffer synchronously: one write.
    for (const pending of batch) if (this.pending.has(pending.token)) this.send(pending)
  }

  private send(pending: Pending): void {
    pending.sentAt = Date.now()
    pending.attempts += 1
    pending.retrying = false
    const h = headers()
    h.set("Nats-Msg-Id", pending.msgID)
    if (pending.lastSequence !== undefined) h.set("Nats-Expected-Last-Sequence", String(pending.lastSequence))
    try {
      this.nc.publish(this.options.subject, pending.body, { reply: `${this.inbox}.${pending.token}`, headers: h })
    } catch (error) {
      // The connection is closed (or the body too large, which the log checks before): no retry helps.
      this.settle(pending, error instanceof Error ? error : new Error(String(error)), undefined)
    }
  }

  private onAck(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1)
    const pending = this.pending.get(token)
    if (pending === undefined) return // an answer to an attempt that was settled already
    if (msg.headers !== undefined && msg.headers.code === 503) {
      // No responders: the stream has no leader right now (an election). Ask again shortly.
      this.retryLater(pending)
      return
    }
    let answer: { seq?: unknown; duplicate?: unknown; error?: { err_code?: unknown; description?: unknown } }
    try {
      answer = JSON.parse(msg.string()) as typeof answer
    } catch {
      this.settle(pending, new Error(`JetStream answered a publish with something that is not a PubAck`), undefined)
      return
    }
    if (answer.error !== undefined) {
      const code = typeof answer.error.err_code === "number" ? answer.error.err_code : 0
      this.settle(pending, new PublishRefused(code, String(answer.error.description ?? "unknown error")), undefined)
      return
    }
    if (typeof answer.seq !== "number") {
      this.settle(pending, new Error(`JetStream answered a publish without a seq`), undefined)
      return
    }
    this.settle(pending, undefined, { seq: answer.seq, duplicate: answer.duplicate === true })
  }

  private retryLater(pending: Pending): void {
    if (this.options.closed()) return this.settle(pending, new Error("the log is closed"), undefined)
    if (Date.now() >= pending.deadline) return this.settle(pending, new AckTimeout(pending.attempts), undefined)
    pending.retrying = true
    setTimeout(() => {
      if (this.pending.has(pending.token)) this.send(pending)
    }, Math.min(1_000, 50 * 2 ** Math.min(pending.attempts, 5))).unref()
  }

  /** Attempts without an ack for ackTimeoutMs are sent again, until their append's deadline. */
  private readonly sweep = (): void => {
    const now = Date.now()
    for (const pending of this.pending.values()) {
      if (pending.retrying || pending.attempts === 0) continue
      if (now >= pending.deadline) this.settle(pending, new AckTimeout(pending.attempts), undefined)
      else if (now - pending.sentAt >= this.options.ackTimeoutMs) {
        if (this.options.closed()) this.settle(pending, new Error("the log is closed"), undefined)
        else this.send(pending)
      }
    }
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  private settle(pending: Pending, error: Error | undefined, ack: Ack | undefined): void {
    if (!this.pending.delete(pending.token)) return
    pending.done(error, ack)
  }
}
