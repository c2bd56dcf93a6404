/**
 * The bare JetStream baseline: what one Node client gets from the NATS server itself, with no broker
 * in between. It publishes event bodies of the broker's size with `inFlight` publishes outstanding
 * (each one with a `Nats-Msg-Id`, as any client that retries safely must) while an ordered consumer
 * reads every message back in stream order; the rate counts a message once it is both acknowledged
 * and read back. Runs in the harness's process, with nothing else running.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { connect, nuid, type NatsConnection } from "@nats-io/transport-node"

export const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222"

/** Why JetStream rows cannot run here ("no NATS at …"), or undefined when they can. */
export const natsMissing = async (url = natsUrl): Promise<string | undefined> => {
  let nc: NatsConnection | undefined
  try {
    nc = await connect({ servers: url, timeout: 1_500, maxReconnectAttempts: 0 })
    await jetstreamManager(nc)
    return undefined
  } catch (error) {
    return `no NATS with JetStream at ${url} (${error instanceof Error ? error.message : String(error)})`
  } finally {
    await nc?.close().catch(() => undefined)
  }
}

/** A stream name no other run uses: every bench run works on streams of its own. */
export const benchStream = (label: string) => `BENCH_${label}_${nuid.next()}`.toUpperCase()

/** Delete streams, best effort (a run that failed half-way still cleans up). */
export const deleteStreams = async (streams: ReadonlyArray<string>, url = natsUrl): Promise<void> => {
  if (streams.length === 0) return
  const nc = await connect({ servers: url, timeout: 2_000, maxReconnectAttempts: 0 })
  try {
    const jsm = await jetstreamManager(nc)
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false)
  } finally {
    await nc.close()
  }
}

/** The body of the last message on `stream`: the bytes the broker stored for one event. */
export const lastBody = async (stream: string, url = natsUrl): Promise<string> => {
  const nc = await connect({ servers: url, timeout: 2_000, maxReconnectAttempts: 0 })
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream)
    const message = await jsm.streams.getMessage(stream, { seq: info.state.last_seq })
    if (message === null) throw new Error(`stream ${stream} has no message at its last seq ${info.state.last_seq}`)
    return message.string()
  } finally {
    await nc.close()
  }
}

export interface BareResult {
  /** Messages acknowledged and read back, per second of the whole run (until the reader caught up). */
  readonly perSecond: number
  /** Acknowledged publishes per second while publishing. */
  readonly publishedPerSecond: number
  readonly count: number
  readonly seconds: number
}

const createStream = async (jsm: JetStreamManager, stream: string, subject: string, replicas: number) =>
  jsm.streams.add({ name: stream, subjects: [subject], num_replicas: replicas, duplicate_window: 120_000_000_000 })

/** Publish `body` for `seconds` with `inFlight` outstanding while an ordered consumer reads it all back. */
export const bareJetStream = async (
  body: string,
  options: { readonly inFlight: number; readonly seconds: number; readonly url?: string | ReadonlyArray<string>; readonly replicas?: number }
): Promise<BareResult> => {
  const stream = benchStream("bare")
  const subject = `${stream}.events`
  const nc = await connect({ servers: typeof options.url === "object" ? [...options.url] : (options.url ?? natsUrl), timeout: 2_000 })
  try {
    const jsm = await jetstreamManager(nc)
    await createStream(jsm, stream, subject, options.replicas ?? 1)
    const js = jetstream(nc)
    const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 })
    const messages = await consumer.consume({ max_messages: 1024 })
    let read = 0
    let target = Number.POSITIVE_INFINITY
    let caughtUp: () => void = () => {}
    const reader = (async () => {
      for await (const message of messages) {
        read = message.seq
        if (read >= target) caughtUp()
      }
    })()

    const prefix = nuid.next()
    let counter = 0
    let acked = 0
    const started = performance.now()
    const stopAt = started + options.seconds * 1000
    await Promise.all(
      Array.from({ length: options.inFlight }, async () => {
        while (performance.now() < stopAt) {
          await js.publish(subject, body, { msgID: `${prefix}.${++counter}` })
          acked += 1
        }
      })
    )
    const published = performance.now()
    target = acked
    if (read < target) {
      await new Promise<void>((resolve, reject) => {
        caughtUp = resolve
        setTimeout(() => reject(new Error(`the ordered consumer read ${read} of ${target} messages within 30 s`)), 30_000).unref()
      })
    }
    const seconds = (performance.now() - started) / 1000
    messages.stop()
    await reader.catch(() => undefined)
    return {
      perSecond: acked / seconds,
      publishedPerSecond: acked / ((published - started) / 1000),
      count: acked,
      seconds
    }
  } finally {
    await jetstreamManager(nc)
      .then((jsm) => jsm.streams.delete(stream))
      .catch(() => false)
    await nc.close()
  }
}
