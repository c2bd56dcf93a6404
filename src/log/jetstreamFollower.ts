import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream"
import { createInbox, nanos, type Msg, type NatsConnection } from "@nats-io/transport-node"

/** What one run of the follower hands over. */
export interface FollowerHooks {
  /**
   * The stream's message at `seq`, in stream order with no gap; may throw to end the run. `text`
   * decodes its body: a node skips its own events (it took them from their acks) without decoding.
   */
  readonly message: (seq: number, text: () => string) => void
  /** The stream's last seq as a delivery reports it (its seq plus the messages still pending). */
  readonly streamLast: (seq: number) => void
}

export interface FollowerRun {
  /** Why the run ended: a reason to start over from the head, or the error a hook threw. */
  readonly ended: Promise<{ readonly reason: string; readonly error?: unknown }>
  readonly stop: () => void
}

/**
 * One run of an ordered push consumer from `from` on: an ephemeral consumer (memory storage, one
 * replica, no acks, flow control, idle heartbeats) pushing the stream to an inbox of this node's,
 * handled in a plain subscription callback — no pull requests, no promise per message. "Ordered"
 * as the NATS clients mean it: the run ends at the first sign that something was missed (a
 * consumer sequence out of turn, a heartbeat that reports deliveries we did not see, heartbeats
 * that stop coming, the consumer gone), and the caller starts a new run from its own head. A run
 * never skips a message: that is what makes the view a prefix of the stream.
 */
export const startFollowerRun = (
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  from: number,
  hooks: FollowerHooks,
  heartbeatMs: number
): FollowerRun => {
  const inbox = createInbox()
  let expected = 1
  let lastHeard = Date.now()
  let finished = false
  let consumerName: string | undefined
  let resolveEnded!: (value: { readonly reason: string; readonly error?: unknown }) => void
  const ended = new Promise<{ readonly reason: string; readonly error?: unknown }>((resolve) => (resolveEnded = resolve))

  const end = (reason: string, error?: unknown) => {
    if (finished) return
    finished = true
    clearInterval(watchdog)
    subscription.unsubscribe()
    if (consumerName !== undefined) void jsm.consumers.delete(stream, consumerName).catch(() => undefined)
    resolveEnded(error === undefined ? { reason } : { reason, error })
  }

  const onStatus = (msg: Msg) => {
    const status = msg.headers!
    const description = status.description.toLowerCase()
    if (description.includes("flow")) {
      // Flow control: the server waits for this answer before it pushes more.
      msg.respond()
      return
    }
    if (description.includes("heartbeat")) {
      const stalled = status.get("Nats-Consumer-Stalled")
      if (stalled !== "") nc.publish(stalled)
      const lastConsumer = status.get("Nats-Last-Consumer")
      if (lastConsumer !== "" && Number(lastConsumer) !== expected - 1) {
        end(`a heartbeat reports delivery ${lastConsumer}, but ${expected - 1} arrived`)
      }
      return
    }
    end(`the consumer reported ${status.code} ${status.description}`)
  }

  const subscription = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (finished) return
      if (error !== null) return end(`the subscription failed: ${error.message}`)
      lastHeard = Date.now()
      const reply = msg.reply ?? ""
      if (!reply.startsWith("$JS.ACK.")) {
        if (msg.headers !== undefined) onStatus(msg)
        return
      }
      // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or with
      // <domain>.<account hash> after ACK and a random token at the end (newer servers).
      const tokens = reply.split(".")
      const at = tokens.length === 9 ? 5 : 7
      const seq = Number(tokens[at])
      const delivered = Number(tokens[at + 1])
      const pending = Number(tokens[at + 3])
      if (delivered !== expected) return end(`delivery ${delivered} arrived when ${expected} was due`)
      expected += 1
      if (Number.isFinite(pending)) hooks.streamLast(seq + pending)
      try {
        hooks.message(seq, () => msg.string())
      } catch (failure) {
        end("a message could not be taken", failure)
      }
    }
  })

  const watchdog = setInterval(() => {
    if (consumerName !== undefined && Date.now() - lastHeard > heartbeatMs * 2.5) end(`no heartbeat for ${Date.now() - lastHeard} ms`)
  }, heartbeatMs)
  watchdog.unref()

  jsm.consumers
    .add(stream, {
      deliver_subject: inbox,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, from),
      ack_policy: AckPolicy.None,
      flow_control: true,
      idle_heartbeat: nanos(heartbeatMs),
      mem_storage: true,
      num_replicas: 1,
      // A consumer left behind by a node that died goes away by itself.
      inactive_threshold: nanos(60_000)
    })
    .then(
      (info) => {
        consumerName = info.name
        lastHeard = Date.now()
        if (finished) void jsm.consumers.delete(stream, info.name).catch(() => undefined)
      },
      (error: unknown) => end(`creating the consumer failed: ${error instanceof Error ? error.message : String(error)}`)
    )

  return { ended, stop: () => end("stopped") }
}
