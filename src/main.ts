import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Broker } from "./broker/Broker.js"
import { parseCli, usage, UsageError } from "./cli.js"
import { serverLayer, type ServerOptions } from "./server.js"
import { version } from "./version.js"

/** Say where the broker is, once it listens: the one thing a person starting it needs to know. */
const announce = (options: ServerOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const broker = yield* Broker
      const head = yield* broker.head
      const address = server.address
      const port = address._tag === "TcpAddress" ? address.port : options.port
      const shown = options.host === "0.0.0.0" || options.host === "::" ? "localhost" : options.host
      const base = `http://${shown}:${port}`
      const backend = options.memory ? "memory (nothing survives a restart)" : `file ${options.dataDir}`
      console.log(`claude-ipc-broker ${version} listening on ${base} (bound to ${options.host})`)
      console.log(`  dashboard: ${base}/dashboard`)
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
  const options = cli.options
  Layer.launch(announce(options).pipe(Layer.provideMerge(serverLayer(options)))).pipe(
    Effect.tapErrorCause((cause) => Effect.logError("the broker stopped", cause)),
    NodeRuntime.runMain
  )
}

main()
