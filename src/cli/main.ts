import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Console, Effect, Layer } from "effect"
import { version } from "../version.js"
import { argCheck, helpAsked } from "./argCheck.js"
import { publish, read } from "./channels.js"
import { command } from "./command.js"
import type { CliError } from "./errors.js"
import { exportLog } from "./export.js"
import { approve, reject } from "./gate.js"
import { CliIo, consoleOf, parsingConsoleOf, stripAnsi, type CliIoShape } from "./io.js"
import { mcpBridge } from "./mcpBridge.js"
import { mcpConfig } from "./mcpConfig.js"
import { projects } from "./projects.js"
import { replay } from "./replay.js"
import { send } from "./send.js"
import { serve } from "./serve.js"
import { signal, waitSignal } from "./signals.js"
import { peers, status } from "./status.js"
import { tail } from "./tail.js"
import { token } from "./tokens.js"

const name = "claude-ipc-broker"

/** Handlers write through the tool's console; only @effect/cli's parsing runs on the quieter one. */
const withOwnConsole = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>) =>
  Command.transformHandler(command, (effect) => Effect.flatMap(CliIo, (io) => Effect.withConsole(effect, consoleOf(io))))

const subcommands = [
  withOwnConsole(serve),
  withOwnConsole(status),
  withOwnConsole(peers),
  withOwnConsole(projects),
  withOwnConsole(send),
  withOwnConsole(command),
  withOwnConsole(approve),
  withOwnConsole(reject),
  withOwnConsole(signal),
  withOwnConsole(waitSignal),
  withOwnConsole(publish),
  withOwnConsole(read),
  withOwnConsole(tail),
  withOwnConsole(exportLog),
  withOwnConsole(replay),
  withOwnConsole(mcpConfig),
  withOwnConsole(mcpBridge),
  withOwnConsole(token)
] as const

/** What `claude-ipc-broker --help` shows: the map; each subcommand's `--help` has the details. */
const overview = `${name} ${version} — a message broker for AI coding sessions

Usage: ${name} [serve options]          run the broker (the default)
       ${name} <command> [options]      talk to a running broker over its REST API

Commands:
  serve        run the broker: REST API, event stream, MCP and dashboard on one port
  status       a readable summary of the broker's state (--at <seq> for the past)
  peers        the peers it knows, with their roles and status
  projects     every project with its peers, open commands, channels and signals
  send         send a command to a peer or role; --wait for its result
  command      one command: its status, attempts and history (--at <seq> for the past)
  approve      let a command the approval gate holds through (a person's decision)
  reject       refuse a held command for good
  signal       fire a named signal
  wait-signal  wait until a signal is fired
  publish      publish a JSON message on a channel
  read         read a channel's messages; --follow for new ones
  tail         follow the event log live, one line per event
  export       print the event log (or a range) as NDJSON
  replay       serve an exported log read-only, with the dashboard
  mcp-config   the MCP entry for Claude Code, Codex, Gemini CLI, Cursor or VS Code
  mcp          serve the broker's MCP tools on stdio, for one peer, with pushes
  token        scoped tokens: add, list, revoke (with the broker's admin token)

Commands that talk to a broker take --url (default $BROKER_URL, else http://127.0.0.1:9100) and
--token (default $BROKER_TOKEN); those that act in a project take --project (default
$BROKER_PROJECT, else default). Run '${name} <command> --help' for its options and examples.

Exit codes: 0 done, 1 the broker is unreachable or refused, 2 bad arguments, 3 a wait timed out.

Not on your PATH? In the project folder 'npx ${name} …' runs it; 'npm link' there puts it on the PATH.

Examples:
  npm start -- --port 9100 --data-dir ./data
  ${name} serve --help
  ${name} send worker run_tests --params '{"path":"test/"}' --wait
  ${name} tail --type 'command.*'
  ${name} status --project web
  ${name} export > incident.ndjson && ${name} replay incident.ndjson --port 9200
`

const root = Command.make(name).pipe(Command.withSubcommands(subcommands))

const app = Command.run(root, { name, version })

const checks = argCheck(subcommands as ReadonlyArray<Command.Command<string, unknown, unknown, unknown>>)
const { names, precheck, reword } = checks

/** Help with a usage line a reader can paste (src/cli/argCheck.ts). */
export const helpText = checks.helpText

/** The console @effect/cli parses with, printing help through `helpText`. */
const withHelpText = (console: Console.Console): Console.Console => ({
  ...console,
  log: (...args) => console.log(...args.map((arg) => (typeof arg === "string" ? helpText(arg) : arg)))
})

const rootFlags = new Set(["--version", "--completions", "--wizard"])

/**
 * Without a subcommand the tool serves, as it always did: `claude-ipc-broker --port 9100` is
 * `claude-ipc-broker serve --port 9100`. A first word that is not a flag stays, so a misspelt
 * subcommand gets "use one of …" rather than a confusing flag error.
 */
const route = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const first = argv[0]
  if (first === undefined) return ["serve"]
  if (first.startsWith("-") && !rootFlags.has(first) && !(argv.length === 1 && (first === "-h" || first === "--help"))) {
    return ["serve", ...argv]
  }
  return argv
}

/** One line out of @effect/cli's paragraph. */
const oneLine = (doc: HelpDoc.HelpDoc) => stripAnsi(HelpDoc.toAnsiText(doc)).replace(/\s+/g, " ").trim()

const report = (io: CliIoShape, line: string) => Effect.sync(() => io.stderr.write(`${name}: ${line}\n`))

/** Run the tool on `argv` (without node and the script) and answer its exit code; never fails. */
const cli = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliIo> =>
  Effect.gen(function* () {
    const io = yield* CliIo
    const routed = route(argv)
    if (routed.length === 1 && (routed[0] === "-h" || routed[0] === "--help")) {
      yield* Effect.sync(() => io.stdout.write(overview))
      return 0
    }
    const refusal = precheck(routed)
    if (refusal !== undefined) {
      yield* report(io, refusal)
      return 2
    }
    const subcommand = names.has(routed[0]!) ? `${routed[0]} ` : ""
    // Help wins over the rest of the line: a flag before it must not take "--help" for its value.
    const parsed = subcommand !== "" && helpAsked(routed) ? [routed[0]!, "--help"] : routed
    return yield* app(["node", name, ...parsed]).pipe(
      Effect.as(0),
      Effect.withConsole(withHelpText(parsingConsoleOf(io))),
      Effect.provide(Layer.merge(NodeContext.layer, CliConfig.layer({ showBuiltIns: false }))),
      Effect.catchAll((error: CliError | ValidationError.ValidationError) =>
        ValidationError.isValidationError(error)
          ? Effect.as(report(io, `${reword(oneLine(error.error), subcommand)} (see ${name} ${subcommand}--help)`), 2)
          : Effect.as(
              report(io, error._tag === "UsageError" ? `${error.message} (see ${name} ${subcommand}--help)` : error.message),
              error.exitCode
            )
      ),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.succeed(130)
          : Effect.as(report(io, `internal error: ${Cause.pretty(cause).split("\n")[0]}`), 1)
      )
    )
  })

/** The process entry's view: run with real or test streams, resolve with the exit code. */
export const runCli = (argv: ReadonlyArray<string>, io: CliIoShape): Promise<number> =>
  Effect.runPromise(cli(argv).pipe(Effect.provideService(CliIo, io), Effect.withConsole(consoleOf(io))))

