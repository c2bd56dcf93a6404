import { parseArgs } from "node:util"
import { defaultConfig, type BrokerConfigShape } from "./broker/Config.js"
import type { JetStreamLogOptions } from "./log/jetstream.js"
import type { ServerOptions } from "./server.js"

export const usage = `claude-ipc-broker — a message broker for AI coding sessions

Usage: claude-ipc-broker [options]        (npm start -- [options])

Options:
  --port <n>              port to listen on (default 9100)
  --host <addr>           address to bind (default 127.0.0.1; anything else requires a token)
  --token <secret>        bearer token every request must carry (or BROKER_TOKEN); generated and
                          printed at start when --host is not loopback and none is given
  --allowed-origin <url>  a browser origin allowed besides the broker's own (repeatable)
  --data-dir <dir>        where the file log and its checkpoint live (default ./data)
  --memory                keep the log in memory only (nothing survives a restart)
  --store <file|nats://…> where the log lives: the file in --data-dir (default), or a NATS JetStream
                          stream shared by every broker node (comma-separate several server URLs)
  --nats-stream <name>    the stream (default CLAUDE_IPC_BROKER; created if missing, checked if not)
  --nats-subject <subj>   its one subject (default <stream>.events; nothing else may publish there)
  --nats-replicas <n>     replicas of a stream the broker creates (default 1; use 3 on a cluster)
  --nats-user <name>      NATS user (or NATS_USER)
  --nats-pass <secret>    NATS password (or NATS_PASSWORD, which other local users cannot see)
  --nats-token <token>    NATS token (or NATS_TOKEN)
  --nats-creds <file>     NATS credentials file (JWT + nkey seed)
  --stale-after-ms <n>    a silent peer becomes stale after this (default ${defaultConfig.staleAfterMs})
  --offline-after-ms <n>  … and offline after this; its commands return to pending (default ${defaultConfig.offlineAfterMs})
  --lease-ms <n>          a delivered, unacked command returns to pending after this (default ${defaultConfig.leaseMs})
  --max-wait-ms <n>       long-poll timeouts are clamped to this (default ${defaultConfig.maxWaitMs})
  --max-body-bytes <n>    larger request bodies get 413 (default ${defaultConfig.maxBodyBytes})
  -h, --help              show this help

Example:
  npm start -- --port 9100 --data-dir ./data
  npm start -- --port 9101 --store nats://127.0.0.1:4222 --nats-replicas 3
`

export class UsageError extends Error {}

const positiveInt = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} takes a whole number, not '${value}'`)
  return n
}

/** Durations and sizes: 0 would make every lease lapse at once or refuse every body. */
const atLeastOne = (flag: string, value: string | undefined): number | undefined => {
  const n = positiveInt(flag, value)
  if (n === 0) throw new UsageError(`${flag} must be at least 1`)
  return n
}

export type Cli = { readonly help: true } | { readonly help: false; readonly options: ServerOptions }

/** `--store` and the `--nats-*` flags: undefined for the file (or memory) log. */
const natsOptions = (
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>
): JetStreamLogOptions | undefined => {
  const text = (flag: string) => (typeof values[flag] === "string" ? (values[flag] as string) : undefined)
  const store = text("store") ?? "file"
  const natsFlags = Object.keys(values).filter((flag) => flag.startsWith("nats-"))
  if (store === "file") {
    if (natsFlags.length > 0) throw new UsageError(`--${natsFlags[0]} needs --store nats://<host>:<port>`)
    return undefined
  }
  const servers = store.split(",").map((url) => url.trim())
  if (servers.some((url) => !/^(nats|tls):\/\/[^\s,]+$/.test(url))) {
    throw new UsageError(`--store takes 'file' or nats://<host>:<port>[,nats://…], not '${store}'`)
  }
  if (values.memory) throw new UsageError("--memory and --store nats://… exclude each other")
  const replicas = positiveInt("--nats-replicas", text("nats-replicas"))
  if (replicas !== undefined && (replicas < 1 || replicas > 5)) {
    throw new UsageError(`--nats-replicas must be between 1 and 5, not ${replicas}`)
  }
  return {
    servers,
    stream: text("nats-stream"),
    subject: text("nats-subject"),
    replicas,
    user: text("nats-user") ?? env.NATS_USER,
    pass: text("nats-pass") ?? env.NATS_PASSWORD,
    token: text("nats-token") ?? env.NATS_TOKEN,
    credsFile: text("nats-creds")
  }
}

/** Turn argv into server options; a UsageError names the flag that is wrong. */
export const parseCli = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = process.env
): Cli => {
  const { values } = (() => {
    try {
      return parseArgs({
        args: [...argv],
        strict: true,
        options: {
          port: { type: "string" },
          host: { type: "string" },
          token: { type: "string" },
          "allowed-origin": { type: "string", multiple: true },
          "data-dir": { type: "string" },
          memory: { type: "boolean" },
          store: { type: "string" },
          "nats-stream": { type: "string" },
          "nats-subject": { type: "string" },
          "nats-replicas": { type: "string" },
          "nats-user": { type: "string" },
          "nats-pass": { type: "string" },
          "nats-token": { type: "string" },
          "nats-creds": { type: "string" },
          "stale-after-ms": { type: "string" },
          "offline-after-ms": { type: "string" },
          "lease-ms": { type: "string" },
          "max-wait-ms": { type: "string" },
          "max-body-bytes": { type: "string" },
          help: { type: "boolean", short: "h" }
        }
      })
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error))
    }
  })()
  if (values.help) return { help: true }
  const port = positiveInt("--port", values.port) ?? 9100
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`)
  const config: Partial<BrokerConfigShape> = Object.fromEntries(
    Object.entries({
      staleAfterMs: atLeastOne("--stale-after-ms", values["stale-after-ms"]),
      offlineAfterMs: atLeastOne("--offline-after-ms", values["offline-after-ms"]),
      leaseMs: atLeastOne("--lease-ms", values["lease-ms"]),
      maxWaitMs: atLeastOne("--max-wait-ms", values["max-wait-ms"]),
      maxBodyBytes: atLeastOne("--max-body-bytes", values["max-body-bytes"])
    }).filter(([, value]) => value !== undefined)
  )
  return {
    help: false,
    options: {
      port,
      host: values.host ?? "127.0.0.1",
      token: values.token ?? (env.BROKER_TOKEN === "" ? undefined : env.BROKER_TOKEN),
      allowedOrigins: values["allowed-origin"] ?? [],
      dataDir: values["data-dir"] ?? "./data",
      memory: values.memory ?? false,
      nats: natsOptions(values as Record<string, string | boolean | undefined>, env),
      config
    }
  }
}
