import { readFile } from "node:fs/promises"
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo
} from "@nats-io/jetstream"
import { connect, credsAuthenticator, nanos, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { LogUnavailable } from "../core/errors.js"
import { defaultStreamName, defaultSubject } from "./jetstreamNames.js"
import { PublishRefused } from "./jetstreamPublisher.js"

/** How the broker finds, authenticates to and lays out its JetStream log. */
export interface JetStreamLogOptions {
  /** One or more server URLs, e.g. "nats://127.0.0.1:4222" (any server of the cluster will do). */
  readonly servers: string | ReadonlyArray<string>
  /** The stream that is the log (default CLAUDE_IPC_BROKER). Created if missing, checked if present. */
  readonly stream?: string | undefined
  /** The one subject the stream captures (default `<stream>.events`). Nothing else may publish on it. */
  readonly subject?: string | undefined
  /** Replicas of a stream the broker creates (default 1; 3 on a 3-server cluster). */
  readonly replicas?: number | undefined
  readonly user?: string | undefined
  readonly pass?: string | undefined
  readonly token?: string | undefined
  /** A NATS .creds file (JWT + nkey seed). */
  readonly credsFile?: string | undefined
  /**
   * How many of the latest events this node keeps in memory (default 65536, and at most 64 MiB of
   * them): reads of those — channel reads, tails, /status?at — are served from the node's own view,
   * not from the stream.
   */
  readonly recentEvents?: number | undefined
  /** How long one publish waits for its PubAck before it is retried with the same msg id (default 5000). */
  readonly ackTimeoutMs?: number | undefined
  /** How long an append may take in all, retries included, before it fails with 503 (default 15000). */
  readonly appendTimeoutMs?: number | undefined
  /** Pause between reconnect attempts (default 1000). */
  readonly reconnectWaitMs?: number | undefined
  /**
   * How often this node compares its view with the stream's last seq (default 1000): a view that is
   * behind and has not moved since the last look is followed again from its head.
   */
  readonly probeIntervalMs?: number | undefined
  /** Idle heartbeat of the consumer that feeds this node's view (default 1000); three missed end it. */
  readonly heartbeatMs?: number | undefined
  /** How long a read from the stream keeps retrying (timeouts, no leader) before it fails (default 10000). */
  readonly readTimeoutMs?: number | undefined
}

export interface ResolvedJetStreamOptions {
  readonly servers: ReadonlyArray<string>
  readonly stream: string
  readonly subject: string
  readonly replicas: number
  readonly recentEvents: number
  readonly ackTimeoutMs: number
  readonly appendTimeoutMs: number
  readonly reconnectWaitMs: number
  readonly probeIntervalMs: number
  readonly heartbeatMs: number
  readonly readTimeoutMs: number
}

export const resolveOptions = (options: JetStreamLogOptions): ResolvedJetStreamOptions => {
  const stream = options.stream ?? defaultStreamName
  return {
    servers: typeof options.servers === "string" ? options.servers.split(",").map((s) => s.trim()) : options.servers,
    stream,
    subject: options.subject ?? defaultSubject(stream),
    replicas: options.replicas ?? 1,
    recentEvents: options.recentEvents ?? 65_536,
    ackTimeoutMs: options.ackTimeoutMs ?? 5_000,
    appendTimeoutMs: options.appendTimeoutMs ?? 15_000,
    reconnectWaitMs: options.reconnectWaitMs ?? 1_000,
    probeIntervalMs: options.probeIntervalMs ?? 1_000,
    heartbeatMs: options.heartbeatMs ?? 1_000,
    readTimeoutMs: options.readTimeoutMs ?? 10_000
  }
}

const describeError = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = cause.cause instanceof Error && cause.cause.message !== cause.message ? ` (${cause.cause.message})` : ""
  return `${cause.message}${inner}`
}

export const unavailable = (what: string, cause?: unknown) =>
  new LogUnavailable({ message: `jetstream log: ${what}${cause === undefined ? "" : `: ${describeError(cause)}`}` })

/**
 * Connect for good: reconnect forever after the first connection, but fail at once (and say why)
 * when the server cannot be reached at start-up or has no JetStream.
 */
export const connectToNats = (options: JetStreamLogOptions, resolved: ResolvedJetStreamOptions) =>
  Effect.gen(function* () {
    const where = resolved.servers.join(",")
    const authenticator =
      options.credsFile === undefined
        ? undefined
        : credsAuthenticator(
            yield* Effect.tryPromise({
              try: () => readFile(options.credsFile!),
              catch: (cause) => unavailable(`cannot read the credentials file ${options.credsFile}`, cause)
            })
          )
    const nc = yield* Effect.tryPromise({
      try: () =>
        connect({
          servers: [...resolved.servers],
          name: `claude-ipc-broker ${resolved.stream}`,
          ...(options.user === undefined ? {} : { user: options.user }),
          ...(options.pass === undefined ? {} : { pass: options.pass }),
          ...(options.token === undefined ? {} : { token: options.token }),
          ...(authenticator === undefined ? {} : { authenticator }),
          timeout: 5_000,
          maxReconnectAttempts: -1,
          reconnectTimeWait: resolved.reconnectWaitMs,
          // A dead server behind a live TCP path is noticed within ~10 s rather than minutes.
          pingInterval: 5_000,
          maxPingOut: 2
        }),
      catch: (cause) => unavailable(`cannot reach NATS at ${where}`, cause)
    })
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc),
      catch: (cause) => {
        void nc.close()
        return unavailable(
          `the NATS server at ${where} does not offer JetStream to this account ` +
            `(start nats-server with -js, or enable JetStream for the account)`,
          cause
        )
      }
    })
    return { nc, jsm }
  })

/**
 * The settings that make the stream a log: file storage, no limit that ever drops an event, no
 * deletes or purges (so stream seqs stay dense), direct gets for cheap random reads, and a
 * duplicate window that covers every retry of an append.
 */
export const logStreamConfig = (resolved: ResolvedJetStreamOptions): Partial<StreamConfig> & { name: string } => ({
  name: resolved.stream,
  description: "claude-ipc-broker event log: one broker event per message, stream seq = event seq",
  subjects: [resolved.subject],
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  // With no limits nothing is ever discarded; should someone add a limit, refuse appends rather than
  // silently dropping the oldest events.
  discard: DiscardPolicy.New,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msgs_per_subject: -1,
  num_replicas: resolved.replicas,
  duplicate_window: nanos(Math.max(120_000, resolved.appendTimeoutMs * 2)),
  allow_direct: true,
  deny_delete: true,
  deny_purge: true,
  allow_rollup_hdrs: false
})

/** Create the stream, or check that an existing one is fit to be the log; fail loudly if not. */
export const ensureStream = (
  jsm: JetStreamManager,
  resolved: ResolvedJetStreamOptions
): Effect.Effect<StreamInfo, LogUnavailable> =>
  Effect.gen(function* () {
    const name = resolved.stream
    const existing = yield* Effect.tryPromise({
      try: () => jsm.streams.info(name),
      catch: (cause) => cause
    }).pipe(
      Effect.catchAll((cause) =>
        cause instanceof JetStreamApiError && cause.code === JetStreamApiCodes.StreamNotFound
          ? Effect.succeed(undefined)
          : Effect.fail(unavailable(`cannot look up stream ${name}`, cause))
      )
    )
    const info =
      existing ??
      (yield* Effect.tryPromise({
        try: () => jsm.streams.add(logStreamConfig(resolved)),
        catch: (cause) =>
          unavailable(`cannot create stream ${name} (subject ${resolved.subject}, ${resolved.replicas} replicas)`, cause)
      }))
    const problems = unfitness(info, resolved)
    if (problems.length > 0) {
      return yield* Effect.fail(
        unavailable(`stream ${name} cannot be the broker's log: ${problems.join("; ")}`)
      )
    }
    for (const warning of warnings(info, resolved)) yield* Effect.logWarning(`jetstream log: stream ${name}: ${warning}`)
    return info
  })

/** What makes a stream unusable: anything that could drop events or mix foreign messages into the seqs. */
const unfitness = (info: StreamInfo, resolved: ResolvedJetStreamOptions): Array<string> => {
  const config = info.config
  const state = info.state
  const problems: Array<string> = []
  const subjects = config.subjects ?? []
  if (subjects.length !== 1 || subjects[0] !== resolved.subject) {
    problems.push(
      `it captures [${subjects.join(", ")}], but must capture exactly '${resolved.subject}' so that its seqs are the broker's`
    )
  }
  if (config.storage !== StorageType.File) problems.push("it is kept in memory, not on disk")
  if (config.retention !== RetentionPolicy.Limits) problems.push(`its retention is '${config.retention}', which deletes events`)
  if ((config.max_age ?? 0) > 0) problems.push("it has a max age, so old events would be deleted")
  const limited =
    (config.max_msgs ?? -1) > 0 || (config.max_bytes ?? -1) > 0 || (config.max_msgs_per_subject ?? -1) > 0
  if (limited && config.discard !== DiscardPolicy.New) {
    problems.push("it has size limits with discard=old, so old events would be deleted")
  }
  if (config.sealed) problems.push("it is sealed")
  // Dense from 1: nothing deleted or purged.
  if (state.messages !== state.last_seq || (state.messages > 0 && state.first_seq !== 1) || (state.num_deleted ?? 0) > 0) {
    problems.push(
      `its seqs are not dense (first ${state.first_seq}, last ${state.last_seq}, ${state.messages} messages): ` +
        `events were deleted or purged, and the broker's log must have every event from seq 1`
    )
  }
  return problems
}

const warnings = (info: StreamInfo, resolved: ResolvedJetStreamOptions): Array<string> => {
  const config = info.config
  const found: Array<string> = []
  if (config.num_replicas !== resolved.replicas) {
    found.push(`has ${config.num_replicas} replicas, not the ${resolved.replicas} asked for (left as it is)`)
  }
  if (!config.deny_delete || !config.deny_purge) {
    found.push("allows deleting or purging messages; the broker refuses to run on a log with a gap")
  }
  const limited = (config.max_msgs ?? -1) > 0 || (config.max_bytes ?? -1) > 0 || (config.max_msgs_per_subject ?? -1) > 0
  if (limited) found.push("has size limits: appends will fail with 503 once they are reached")
  return found
}

/** The seq an expected-last-sequence failure reports ("wrong last sequence: 41"), if it is one. */
export const wrongLastSequence = (cause: unknown): number | undefined => {
  const refused =
    (cause instanceof JetStreamApiError && cause.code === JetStreamApiCodes.StreamWrongLastSequence) ||
    (cause instanceof PublishRefused && cause.errCode === JetStreamApiCodes.StreamWrongLastSequence)
  if (!refused) return undefined
  const match = /wrong last sequence: (\d+)/.exec((cause as Error).message)
  return match ? Number(match[1]) : undefined
}

export type { NatsConnection }
