import { Command, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { PassThrough } from "node:stream"
import { UsageError } from "../../src/cli/errors.js"
import { parsingConsoleOf, type CliIoShape } from "../../src/cli/io.js"
import { serveOptions, toServerOptions } from "../../src/cli/serve.js"
import type { ServerOptions } from "../../src/server.js"

const quiet: CliIoShape = {
  stdout: new PassThrough(),
  stderr: new PassThrough(),
  env: {},
  cwd: ".",
  color: false,
  errorColor: false,
  stopped: Effect.never
}

/** The serve flags through @effect/cli, as the bin parses them, without starting anything. */
const parse = (argv: Array<string>, env: Record<string, string> = {}) => {
  let parsed: ServerOptions | undefined
  const serve = Command.make("serve", serveOptions, (args) =>
    Effect.map(toServerOptions(args, env), (options) => {
      parsed = options
    })
  )
  return Command.run(serve, { name: "test", version: "0" })(["node", "serve", ...argv]).pipe(
    Effect.map(() => parsed!),
    // @effect/cli prints a refusal as help text; the tool replaces that with one line (see main.ts).
    Effect.withConsole(parsingConsoleOf(quiet)),
    Effect.provide(NodeContext.layer),
    Effect.either,
    Effect.runPromise
  )
}

const options = async (argv: Array<string>, env: Record<string, string> = {}) => {
  const result = await parse(argv, env)
  if (Either.isLeft(result)) throw new Error(`expected options, got ${String(result.left)}`)
  return result.right
}

/** The one line the tool would print for a refusal. */
const refusal = async (argv: Array<string>) => {
  const result = await parse(argv)
  if (Either.isRight(result)) throw new Error(`expected a refusal of ${argv.join(" ")}`)
  const error = result.left
  if (error instanceof UsageError) return error.message
  if (ValidationError.isValidationError(error)) return JSON.stringify(error.error)
  throw error
}

describe("the serve flags", () => {
  it("bind to loopback with the file log in ./data by default", async () => {
    const parsed = await options([])
    expect(parsed).toMatchObject({ port: 9100, host: "127.0.0.1", dataDir: "./data", memory: false })
    expect(parsed.token).toBeUndefined()
  })

  it("take the token from --token or BROKER_TOKEN, and repeatable --allowed-origin", async () => {
    expect((await options(["--token", "t1"])).token).toBe("t1")
    expect((await options([], { BROKER_TOKEN: "t2" })).token).toBe("t2")
    expect((await options(["--token", "t1"], { BROKER_TOKEN: "t2" })).token).toBe("t1")
    expect((await options([], { BROKER_TOKEN: "" })).token).toBeUndefined()
    const origins = await options(["--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example"])
    expect(origins.allowedOrigins).toEqual(["https://a.example", "https://b.example"])
  })

  it("map tuning flags to the broker config", async () => {
    const { config } = await options(["--lease-ms", "5000", "--stale-after-ms", "100", "--max-body-bytes", "2048"])
    expect(config).toEqual({ leaseMs: 5000, staleAfterMs: 100, maxBodyBytes: 2048 })
  })

  it("map the retention flags to the broker config; without them every message is kept", async () => {
    const { config } = await options(["--channel-max-messages", "1000", "--channel-max-age-ms", "604800000"])
    expect(config).toEqual({ channelMaxMessages: 1000, channelMaxAgeMs: 604_800_000 })
    expect((await options([])).config).toEqual({})
  })

  it("refuse wrong values with a message naming the flag", async () => {
    const cases: Array<[Array<string>, string]> = [
      [["--port", "http"], "--port takes a whole number, not 'http'"],
      [["--port", "70000"], "--port must be at most 65535"],
      [["--lease-ms", "0"], "--lease-ms must be at least 1"],
      [["--channel-max-messages", "0"], "--channel-max-messages must be at least 1"],
      [["--channel-max-age-ms", "1h"], "--channel-max-age-ms takes a whole number, not '1h'"],
      [["--max-wait-ms", "-5"], "--max-wait-ms takes a whole number, not '-5'"],
      [["--nats-stream", "S"], "--nats-stream needs --store nats://"],
      [["--store", "redis://x"], "--store takes 'file' or nats://"],
      [["--store", "nats://h:4222", "--memory"], "--memory and --store nats://… exclude each other"],
      [["--store", "nats://h:4222", "--nats-replicas", "9"], "--nats-replicas must be between 1 and 5"],
      [["--bogus"], "--bogus"]
    ]
    for (const [argv, message] of cases) expect(await refusal(argv), argv.join(" ")).toContain(message)
  })

  it("select the JetStream log with --store nats://…, credentials from NATS_* when not given", async () => {
    const { nats } = await options(["--store", "nats://127.0.0.1:4222", "--nats-stream", "TEAM"], { NATS_USER: "u", NATS_PASSWORD: "p" })
    expect(nats).toMatchObject({ servers: ["nats://127.0.0.1:4222"], stream: "TEAM", user: "u", pass: "p" })
  })
})
