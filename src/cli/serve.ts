import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Cause, Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { defaultConfig, type BrokerConfigShape } from "../broker/Config.js"
import { isLoopback } from "../http/guard.js"
import type { JetStreamLogOptions } from "../log/jetstream.js"
import type { ServerOptions } from "../server.js"
import { Failed, UsageError } from "./errors.js"
import { CliIo } from "./io.js"
import { loggingOptions, withLogging } from "./logging.js"
import { describe, invalid, tokenFrom } from "./options.js"
import { untilStopped } from "./stop.js"

const wholeNumber = (flag: string) => (text: string) => {
  const n = Number(text)
  return Number.isSafeInteger(n) && n >= 0 && text.trim() !== ""
    ? Effect.succeed(n)
    : Effect.fail(invalid(`${flag} takes a whole number, not '${text}'`))
}

/** Durations and sizes: 0 would make every lease lapse at once or refuse every body. */
const atLeastOne = (flag: string) => (text: string) =>
  Effect.flatMap(wholeNumber(flag)(text), (n) => (n === 0 ? Effect.fail(invalid(`${flag} must be at least 1`)) : Effect.succeed(n)))

const text = (name: string, pseudo: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudo), Options.withDescription(description), Options.optional)

/** A duration, size or count of at least 1. */
const atLeastOneOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("n"),
    Options.withDescription(description),
    Options.mapEffect(atLeastOne(`--${name}`)),
    Options.optional
  )

const tuning = (name: string, description: string, byDefault: number) =>
  atLeastOneOption(name, `${description} (default ${byDefault})`)

/** Retention limits: off unless given. */
const limit = (name: string, description: string) =>
  atLeastOneOption(name, `${description} (default: off, every message kept)`)

const portOption = (byDefault: number) =>
  Options.text("port").pipe(
    Options.withPseudoName("n"),
    Options.withDescription(`port to listen on; 0 picks a free one (default ${byDefault})`),
    Options.mapEffect((value) =>
      Effect.flatMap(wholeNumber("--port")(value), (n) =>
        n > 65535 ? Effect.fail(invalid(`--port must be at most 65535, not ${n}`)) : Effect.succeed(n)
      )
    ),
    Options.withDefault(byDefault)
  )

/** Where the broker listens and who may talk to it: shared by `serve` and `replay` (which picks a free port). */
export const listenOptions = (defaultPort: number) => ({
  port: portOption(defaultPort),
  host: Options.text("host").pipe(
    Options.withPseudoName("addr"),
    Options.withDescription("address to bind (default 127.0.0.1; anything else requires a token)"),
    Options.withDefault("127.0.0.1")
  ),
  token: text(
    "token",
    "secret",
    "bearer token every request must carry (or BROKER_TOKEN); generated and printed at start when --host is not loopback and none is given"
  ),
  allowedOrigin: Options.text("allowed-origin").pipe(
    Options.withPseudoName("url"),
    Options.withDescription("a browser origin allowed besides the broker's own (repeatable)"),
    Options.repeated
  )
})

export const serveOptions = {
  ...listenOptions(9100),
  dataDir: Options.text("data-dir").pipe(
    Options.withPseudoName("dir"),
    Options.withDescription("where the file log and its checkpoint live (default ./data)"),
    Options.withDefault("./data")
  ),
  memory: Options.boolean("memory").pipe(Options.withDescription("keep the log in memory only (nothing survives a restart)")),
  store: text(
    "store",
    "file|nats://…",
    "where the log lives: the file in --data-dir (default), or a NATS JetStream stream shared by every " +
      "broker node (comma-separate several server URLs)"
  ),
  natsStream: text("nats-stream", "name", "the stream (default CLAUDE_IPC_BROKER; created if missing, checked if not)"),
  natsSubject: text("nats-subject", "subj", "its one subject (default <stream>.events; nothing else may publish there)"),
  natsReplicas: text("nats-replicas", "n", "replicas of a stream the broker creates (default 1; use 3 on a cluster)"),
  natsUser: text("nats-user", "name", "NATS user (or NATS_USER)"),
  natsPass: text("nats-pass", "secret", "NATS password (or NATS_PASSWORD, which other local users cannot see)"),
  natsToken: text("nats-token", "token", "NATS token (or NATS_TOKEN)"),
  natsCreds: text("nats-creds", "file", "NATS credentials file (JWT + nkey seed)"),
  staleAfterMs: tuning("stale-after-ms", "a silent peer becomes stale after this", defaultConfig.staleAfterMs),
  offlineAfterMs: tuning(
    "offline-after-ms",
    "… and offline after this; its commands return to pending",
    defaultConfig.offlineAfterMs
  ),
  leaseMs: tuning("lease-ms", "a delivered, unacked command returns to pending after this", defaultConfig.leaseMs),
  maxDeliveries: tuning(
    "max-deliveries",
    "a command delivered this often whose lease lapses or holder goes offline becomes dead, not pending",
    defaultConfig.maxDeliveries
  ),
  maxWaitMs: tuning("max-wait-ms", "long-poll timeouts are clamped to this", defaultConfig.maxWaitMs),
  maxBodyBytes: tuning("max-body-bytes", "larger request bodies get 413", defaultConfig.maxBodyBytes),
  channelMaxMessages: limit("channel-max-messages", "each channel keeps its newest n messages; older ones are trimmed"),
  channelMaxAgeMs: limit("channel-max-age-ms", "each channel drops its messages older than this"),
  requireApproval: Options.text("require-approval").pipe(
    Options.withPseudoName("role"),
    Options.withDescription("commands to this role (or to its peers) are held until a person approves them (repeatable)"),
    Options.repeated
  ),
  gateAfter: atLeastOneOption(
    "gate-after",
    "loop guard: a sender's commands to one target beyond n a minute are held for a person (default: off)"
  )
}

type Parsed<T> = { readonly [K in keyof T]: T[K] extends Options.Options<infer A> ? A : never }
export type ServeArgs = Parsed<typeof serveOptions>

type Env = Readonly<Record<string, string | undefined>>

/** `--store` and the `--nats-*` flags: undefined for the file (or memory) log. */
const natsOptions = (args: ServeArgs, env: Env): Effect.Effect<JetStreamLogOptions | undefined, UsageError> => {
  const usage = (message: string) => Effect.fail(new UsageError({ message }))
  const store = Option.getOrElse(args.store, () => "file")
  const natsFlags = Object.entries({
    "nats-stream": args.natsStream,
    "nats-subject": args.natsSubject,
    "nats-replicas": args.natsReplicas,
    "nats-user": args.natsUser,
    "nats-pass": args.natsPass,
    "nats-token": args.natsToken,
    "nats-creds": args.natsCreds
  }).flatMap(([flag, value]) => (Option.isSome(value) ? [flag] : []))
  if (store === "file") {
    return natsFlags.length > 0 ? usage(`--${natsFlags[0]} needs --store nats://<host>:<port>`) : Effect.succeed(undefined)
  }
  const servers = store.split(",").map((url) => url.trim())
  if (servers.some((url) => !/^(nats|tls):\/\/[^\s,]+$/.test(url))) {
    return usage(`--store takes 'file' or nats://<host>:<port>[,nats://…], not '${store}'`)
  }
  if (args.memory) return usage("--memory and --store nats://… exclude each other")
  const replicasText = Option.getOrUndefined(args.natsReplicas)
  const replicas = replicasText === undefined ? undefined : Number(replicasText)
  if (replicas !== undefined && (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5)) {
    return usage(`--nats-replicas must be between 1 and 5, not ${replicasText}`)
  }
  return Effect.succeed({
    servers,
    stream: Option.getOrUndefined(args.natsStream),
    subject: Option.getOrUndefined(args.natsSubject),
    replicas,
    user: Option.getOrUndefined(args.natsUser) ?? env.NATS_USER,
    pass: Option.getOrUndefined(args.natsPass) ?? env.NATS_PASSWORD,
    token: Option.getOrUndefined(args.natsToken) ?? env.NATS_TOKEN,
    credsFile: Option.getOrUndefined(args.natsCreds)
  })
}

/** The server options the flags (and BROKER_TOKEN, NATS_*) describe. */
export const toServerOptions = (args: ServeArgs, env: Env): Effect.Effect<ServerOptions, UsageError> =>
  Effect.map(natsOptions(args, env), (nats) => {
    const config: Partial<BrokerConfigShape> = Object.fromEntries(
      Object.entries({
        staleAfterMs: args.staleAfterMs,
        offlineAfterMs: args.offlineAfterMs,
        leaseMs: args.leaseMs,
        maxDeliveries: args.maxDeliveries,
        maxWaitMs: args.maxWaitMs,
        maxBodyBytes: args.maxBodyBytes,
        channelMaxMessages: args.channelMaxMessages,
        channelMaxAgeMs: args.channelMaxAgeMs,
        gateAfter: args.gateAfter
      }).flatMap(([key, value]) => (Option.isSome(value) ? [[key, value.value]] : []))
    )
    const gated: Partial<BrokerConfigShape> = args.requireApproval.length > 0 ? { requireApproval: args.requireApproval } : {}
    return {
      port: args.port,
      host: args.host,
      token: tokenFrom(args.token, env),
      allowedOrigins: args.allowedOrigin,
      dataDir: args.dataDir,
      memory: args.memory,
      nats,
      config: { ...config, ...gated }
    }
  })

/**
 * Run the broker until asked to stop, announcing where it listens. Beyond loopback, anyone who can
 * reach the port could give orders, so a broker bound there without a token makes one.
 */
export const runBroker = (options: ServerOptions) =>
  // Loaded here, not at the top: the client subcommands need none of the server.
  Effect.promise(() => Promise.all([import("../server.js"), import("./announce.js")])).pipe(
    Effect.flatMap(([{ serverLayer }, { announce }]) => {
      const generatedToken = options.token === undefined && !isLoopback(options.host)
      const withToken = generatedToken ? { ...options, token: randomBytes(24).toString("base64url") } : options
      return Layer.launch(announce(withToken, generatedToken).pipe(Layer.provideMerge(serverLayer(withToken))))
    }),
    untilStopped,
    Effect.catchAllCause((cause) =>
      Effect.zipRight(
        Effect.logDebug("the broker stopped", cause),
        Effect.fail(new Failed({ message: `the broker stopped: ${failureOf(cause)}` }))
      )
    )
  )

/** The innermost reason a cause holds, in one line: "listen EADDRINUSE …" rather than "ServeError". */
const failureOf = (cause: Cause.Cause<unknown>): string => {
  let error: unknown = Cause.squash(cause)
  while (error instanceof Error && error.cause !== undefined) error = error.cause
  const text = error instanceof Error ? error.message : String(error)
  return text.split("\n").find((line) => line.trim() !== "")?.trim() ?? "unknown error"
}

export const serve = Command.make("serve", { ...serveOptions, ...loggingOptions }, (args) =>
  Effect.flatMap(CliIo, (io) => Effect.flatMap(toServerOptions(args, io.env), runBroker)).pipe(withLogging(args))
).pipe(
  Command.withDescription(
    describe(
      "Run the broker: REST API, event stream, MCP and the dashboard on one port. This is what the tool does without a subcommand.",
      [
        "claude-ipc-broker --port 9100 --data-dir ./data",
        "claude-ipc-broker serve --host 0.0.0.0 --token \"$BROKER_TOKEN\"",
        "claude-ipc-broker serve --port 9101 --store nats://127.0.0.1:4222 --nats-replicas 3",
        "claude-ipc-broker serve --memory --log-format json --log-level debug"
      ],
      [
        "It prints where it listens; the last line, '  log: …', means it is ready. Logs go to stderr. " +
          "SIGINT or SIGTERM shut it down in order."
      ]
    )
  )
)
