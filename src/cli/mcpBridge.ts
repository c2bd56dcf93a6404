import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import { defaultProject } from "../core/projects.js"
import { CliIo } from "./io.js"
import { connection, connectionOptions, describe, nameOf, projectFrom, projectOption, roleOption } from "./options.js"

/**
 * `claude-ipc-broker mcp`: the stdio bridge (src/bridge). stdout carries MCP frames only; every
 * line this command writes itself goes to stderr, where harnesses show or log it.
 */

const names = (flag: string) => (value: string) =>
  Effect.forEach(
    value.split(",").map((part) => part.trim()).filter((part) => part.length > 0),
    (part) => nameOf(flag, part)
  )

/** How often the bridge looks whether the process that started it is still there. */
const parentCheckMs = 500
/** Ending the broker session at exit may take this long at most, so the bridge exits within 2 s. */
const closeWithinMs = 1_200

export const mcpBridge = Command.make(
  "mcp",
  {
    ...connectionOptions,
    project: projectOption("act in this project of the broker: its session is <url>/p/<project>/mcp (default $BROKER_PROJECT, else default)"),
    role: roleOption("register as this role at start (headless sessions need not call connect)"),
    capabilities: Options.text("capabilities").pipe(
      Options.withPseudoName("a,b"),
      Options.withDescription("with --role: what this peer can do, comma-separated"),
      Options.mapEffect(names("--capabilities")),
      Options.withDefault([] as ReadonlyArray<string>)
    ),
    label: Options.text("label").pipe(
      Options.withPseudoName("text"),
      Options.withDescription("with --role: a label shown to others (e.g. the repository)"),
      Options.optional
    ),
    subscribe: Options.text("subscribe").pipe(
      Options.withPseudoName("channel"),
      Options.withDescription("follow this channel from the start: new messages are pushed (repeatable)"),
      Options.repeated,
      Options.mapEffect((values) => Effect.forEach(values, (value) => nameOf("--subscribe", value)))
    )
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const project = yield* projectFrom(args.project, (yield* CliIo).env)
      const io = yield* CliIo
      const log = (line: string) => io.stderr.write(`claude-ipc-broker mcp: ${line}\n`)
      // Loaded when it runs, like serve: the other subcommands need none of the MCP SDK.
      const [{ makeBridge }, { StdioServerTransport }] = yield* Effect.promise(() =>
        Promise.all([import("../bridge/Bridge.js"), import("@modelcontextprotocol/sdk/server/stdio.js")])
      )
      const bridge = makeBridge({
        url: broker.url,
        // The bridge knows nothing of projects but the path: default's is the unprefixed one.
        project: project === defaultProject ? undefined : project,
        token: broker.token,
        role: Option.getOrUndefined(args.role),
        capabilities: args.capabilities,
        label: Option.getOrUndefined(args.label),
        subscribe: args.subscribe,
        log
      })
      yield* Effect.promise(async () => {
        const done = new Promise<string>((resolve) => {
          // A harness ends its server by closing stdin, or simply by going away.
          process.stdin.once("end", () => resolve("stdin closed"))
          process.stdin.once("close", () => resolve("stdin closed"))
          const parent = process.ppid
          const watch = setInterval(() => {
            if (process.ppid !== parent) resolve("its parent process exited")
          }, parentCheckMs)
          watch.unref()
          Effect.runPromise(io.stopped).then(() => resolve("asked to stop"))
        })
        await bridge.connect(new StdioServerTransport())
        const where = project === defaultProject ? "" : `, project ${project}`
        log(`serving MCP on stdio for the broker at ${broker.url}${where}${args.role._tag === "Some" ? ` as ${args.role.value}` : ""}`)
        const why = await done
        log(`stopping: ${why}`)
        await bridge.close(closeWithinMs)
      })
    })
).pipe(
  Command.withDescription(
    describe(
      "Serve the broker's MCP tools on stdin/stdout, for harnesses that start MCP servers as processes " +
        "(Claude Code, Codex, Gemini CLI, Cursor, VS Code). It acts for one peer, pushes work into an idle " +
        "Claude Code session (claude/channel), survives broker restarts, and exits when its parent does.",
      [
        "claude-ipc-broker mcp --url http://127.0.0.1:9100",
        "claude-ipc-broker mcp --role backend --capabilities build,test --subscribe builds",
        "claude-ipc-broker mcp --project alpha --role backend   # in project alpha: <url>/p/alpha/mcp",
        "claude mcp add broker -- npx claude-ipc-broker mcp --role backend"
      ],
      ["Diagnostics go to stderr; stdout carries MCP frames only. See docs/mcp.md, 'Sleeping agents'."]
    )
  )
)
