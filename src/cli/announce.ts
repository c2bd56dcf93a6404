import * as HttpServer from "@effect/platform/HttpServer"
import { Console, Effect, Layer } from "effect"
import { Broker } from "../broker/Broker.js"
import { defaultProject } from "../core/projects.js"
import { defaultStreamName } from "../log/jetstreamNames.js"
import { replayContents, type ReplaySource } from "../log/replay.js"
import type { ServerOptions } from "../server.js"
import { version } from "../version.js"
import { advertisedHostHere, isWildcard } from "./lanAddresses.js"
import { mcpJson } from "./mcpEntry.js"
import { counted } from "./paint.js"

/**
 * A replayed file's events: how many, and where a project's are served when they are not all
 * default's; its seqs when it is not the whole log (another project's events are not in it).
 */
const replayedLabel = (replay: ReplaySource): string => {
  const { events, projects, first, last, whole } = replayContents(replay.events)
  const at = (project: string) => (project === defaultProject ? "default at /" : `${project} at /p/${project}/`)
  const onlyDefault = projects.every((project) => project === defaultProject)
  const where = onlyDefault ? "" : `, of ${projects.length === 1 ? "project" : "projects"} ${projects.map(at).join(", ")}`
  const seqs = whole ? "" : `, seq ${first}–${last} (the log's other events are not in the file)`
  return `replay of ${replay.source} (read-only: every write is refused), ${counted(events, "event")}${where}${seqs}`
}

/** What the `log:` line says about where the events live, and how many there are. */
const logLabel = (options: ServerOptions, head: number): string =>
  options.replay
    ? replayedLabel(options.replay)
    : `${
        options.memory
          ? "memory (nothing survives a restart)"
          : options.nats
            ? `jetstream stream ${options.nats.stream ?? defaultStreamName} on ${[options.nats.servers].flat().join(",")} ` +
              `(shared by every node on it; checkpoints in ${options.dataDir})`
            : `file ${options.dataDir}`
      }, ${counted(head, "event")}`

/** Ready-to-paste client settings for a broker with a token, printed once when we made the token. */
const tokenHelp = (base: string, token: string): Array<string> => [
  `  token:     ${token}`,
  `             (generated for this run: it is not stored anywhere; pass --token or BROKER_TOKEN to keep one)`,
  `  login:     ${base}/dashboard?token=${encodeURIComponent(token)}`,
  `  .mcp.json (http): ${JSON.stringify(mcpJson({ base, transport: "http", token }))}`,
  `  .mcp.json (sse):  ${JSON.stringify(mcpJson({ base, transport: "sse", token }))}`,
  `  curl:      curl -H 'Authorization: Bearer ${token}' ${base}/status`
]

/** Where other PCs reach a broker bound to every interface; this machine can still use localhost. */
const lanLine = (lan: ReadonlyArray<string>, port: number): string =>
  lan.length === 0
    ? `  lan:       no LAN address found (only loopback interfaces); this machine reaches it at http://localhost:${port}`
    : `  lan:       ${lan.map((address) => `http://${address}:${port}`).join(", ")} (this machine: http://localhost:${port})`

/**
 * Say where the broker is, once it listens: the one thing a person starting it needs to know. These
 * lines go to stdout in every log format; the last one, `  log: …`, tells scripts the broker is ready.
 */
export const announce = (options: ServerOptions, generatedToken: boolean) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const head = yield* Effect.flatMap(Broker, (broker) => broker.head)
      const address = server.address
      const port = address._tag === "TcpAddress" ? address.port : options.port
      // Bound to every interface, the URLs name a LAN address: they are for pasting on other PCs.
      const { host, lan } = advertisedHostHere(options.host)
      const base = `http://${host}:${port}`
      const lines = [
        `claude-ipc-broker ${version} listening on ${base} (bound to ${options.host})`,
        ...(isWildcard(options.host) ? [lanLine(lan, port)] : []),
        `  dashboard: ${base}/dashboard`,
        ...(options.token === undefined
          ? []
          : generatedToken
            ? tokenHelp(base, options.token)
            : [`  auth:      every request needs 'Authorization: Bearer <your token>'`]),
        `  log:       ${logLabel(options, head)}`
      ]
      // The log line to go with it, "broker started", comes from src/lifecycle.ts.
      yield* Console.log(lines.join("\n"))
    })
  )
