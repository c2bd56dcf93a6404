import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { Broker } from "./broker/Broker.js"
import { isLoopback } from "./http/guard.js"
import { parseCli, usage, UsageError } from "./cli.js"
import { defaultStreamName } from "./log/jetstream.js"
import { serverLayer, type ServerOptions } from "./server.js"
import { version } from "./version.js"

/** Ready-to-paste client settings for a broker with a token, printed once when we made the token. */
const tokenHelp = (base: string, token: string): Array<string> => {
  const header = { Authorization: `Bearer ${token}` }
  const entry = (type: "http" | "sse", path: string) =>
    JSON.stringify({ mcpServers: { "claude-ipc-broker": { type, url: `${base}${path}`, headers: header } } })
  return [
    `  token:     ${token}`,
    `             (generated for this run: it is not stored anywhere; pass --token or BROKER_TOKEN to keep one)`,
    `  login:     ${base}/dashboard?token=${encodeURIComponent(token)}`,
    `  .mcp.json (http): ${entry("http", "/mcp")}`,
    `  .mcp.json (sse):  ${entry("sse", "/mcp/sse")}`,
    `  curl:      curl -H 'Authorization: Bearer ${token}' ${base}/status`
  ]
}

/** Say where the broker is, once it listens: the one thing a person starting it needs to know. */
const announce = (options: ServerOptions, generatedToken: boolean) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const broker = yield* Broker
      const head = yield* broker.head
      const address = server.address
      const port = address._tag === "TcpAddress" ? address.port : options.port
      const shown = options.host === "0.0.0.0" || options.host === "::" ? "localhost" : options.host
      const base = `http://${shown}:${port}`
      const backend = options.memory
        ? "memory (nothing survives a restart)"
        : options.nats
          ? `jetstream stream ${options.nats.stream ?? defaultStreamName} on ${[options.nats.servers].flat().join(",")} ` +
            `(shared by every node on it; checkpoints in ${options.dataDir})`
          : `file ${options.dataDir}`
      console.log(`claude-ipc-broker ${version} listening on ${base} (bound to ${options.host})`)
      console.log(`  dashboard: ${base}/dashboard`)
      if (options.token !== undefined && generatedToken) {
        // Printed before the "log:" line, which tells scripts that the broker is ready.
        for (const line of tokenHelp(base, options.token)) console.log(line)
      } else if (options.token !== undefined) {
        console.log(`  auth:      every request needs 'Authorization: Bearer <your token>'`)
      }
      console.log(`  log:       ${backend}, ${head} events`)
    })
  )

const main = () => {
  let cli
  try {
    cli = parseCli(process.argv.slice(2))
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`claude-ipc-broker: ${error.message} (see --help)`)
    process.exit(2)
  }
  if (cli.help) {
    console.log(usage)
    return
  }
  // Beyond loopback, anyone who can reach the port could give orders: never without a token.
  const generatedToken = cli.options.token === undefined && !isLoopback(cli.options.host)
  const options = generatedToken ? { ...cli.options, token: randomBytes(24).toString("base64url") } : cli.options
  Layer.launch(announce(options, generatedToken).pipe(Layer.provideMerge(serverLayer(options)))).pipe(
    Effect.tapErrorCause((cause) => Effect.logError("the broker stopped", cause)),
    NodeRuntime.runMain
  )
}

main()
