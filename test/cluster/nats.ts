import { jetstreamManager } from "@nats-io/jetstream"
import { connect, nuid } from "@nats-io/transport-node"
import { Effect } from "effect"
import { makeJetStreamLog, type JetStreamLogOptions } from "../../src/log/jetstream.js"

/** The NATS server the JetStream tests use; they are skipped (with the reason) when it is not there. */
export const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222"

/** Why JetStream tests cannot run here, or undefined when they can: a NATS server with JetStream. */
const probe = async (): Promise<string | undefined> => {
  let nc
  try {
    nc = await connect({ servers: natsUrl, timeout: 1_500, maxReconnectAttempts: 0 })
  } catch (error) {
    return `no NATS server at ${natsUrl} (${error instanceof Error ? error.message : String(error)}); set NATS_URL`
  }
  try {
    await jetstreamManager(nc)
    return undefined
  } catch {
    return `the NATS server at ${natsUrl} has no JetStream (start it with -js)`
  } finally {
    await nc.close()
  }
}

export const natsUnavailable: string | undefined = await probe()

/** A stream name no other test run uses. */
export const uniqueStream = (prefix: string) => `${prefix}_${nuid.next()}`.toUpperCase()

/** Delete streams (each test's own), best effort. */
export const deleteStreams = async (...streams: ReadonlyArray<string>): Promise<void> => {
  const nc = await connect({ servers: natsUrl, timeout: 2_000, maxReconnectAttempts: 0 })
  try {
    const jsm = await jetstreamManager(nc)
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false)
  } finally {
    await nc.close()
  }
}

/** A JetStream log on a fresh stream of its own, deleted (after the log is closed) with the scope. */
export const scopedJetStreamLog = (prefix: string, options: Partial<JetStreamLogOptions> = {}) =>
  Effect.gen(function* () {
    const stream = yield* Effect.acquireRelease(
      Effect.sync(() => uniqueStream(prefix)),
      (name) => Effect.promise(() => deleteStreams(name))
    )
    return yield* makeJetStreamLog({ servers: natsUrl, stream, ...options })
  })
