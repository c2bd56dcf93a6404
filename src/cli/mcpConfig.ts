import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect } from "effect"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Failed, UsageError } from "./errors.js"
import { CliIo } from "./io.js"
import { claudeMcpAdd, mcpJson, mcpServerEntry, serverName, type McpTarget } from "./mcpEntry.js"
import { connection, connectionOptions, describe, nameOf, oneOf } from "./options.js"

/**
 * `.mcp.json` with this broker's entry added or replaced, every other server kept. Refuses a file
 * that is not a JSON object with an object `mcpServers`, rather than guess what it meant.
 */
const mergeMcpJson = (existing: string | undefined, name: string, target: McpTarget): string => {
  const config = existing === undefined || existing.trim() === "" ? {} : (JSON.parse(existing) as unknown)
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new Error("it is not a JSON object")
  const servers = (config as { mcpServers?: unknown }).mcpServers ?? {}
  if (typeof servers !== "object" || servers === null || Array.isArray(servers)) throw new Error("its mcpServers is not an object")
  return `${JSON.stringify({ ...config, mcpServers: { ...servers, [name]: mcpServerEntry(target) } }, null, 2)}\n`
}

const readIfThere = (path: string) =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })

export const mcpConfig = Command.make(
  "mcp-config",
  {
    ...connectionOptions,
    transport: oneOf("transport", ["http", "sse"]).pipe(
      Options.withDescription("Streamable HTTP (/mcp, preferred) or the legacy SSE transport (/mcp/sse)"),
      Options.withDefault("http" as const)
    ),
    global: Options.boolean("global").pipe(
      Options.withDescription("for every project of this user: the 'claude mcp add --scope user' command")
    ),
    write: Options.boolean("write").pipe(Options.withDescription("add the entry to ./.mcp.json, keeping the other servers in it")),
    name: Options.text("name").pipe(
      Options.withPseudoName("name"),
      Options.withDescription(`the server's name in Claude Code (default ${serverName})`),
      Options.mapEffect((value) => nameOf("--name", value)),
      Options.withDefault(serverName)
    )
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const io = yield* CliIo
      const target: McpTarget = { base: broker.url, transport: args.transport, token: broker.token }
      const command = claudeMcpAdd(target, { global: args.global, name: args.name })
      if (args.write) {
        if (args.global) {
          return yield* new UsageError({
            message: `--write edits ./.mcp.json (this project); for --global run: ${command}`
          })
        }
        const path = join(io.cwd, ".mcp.json")
        yield* Effect.tryPromise({
          try: async () => writeFile(path, mergeMcpJson(await readIfThere(path), args.name, target)),
          catch: (error) => new Failed({ message: `left ${path} as it was: ${error instanceof Error ? error.message : String(error)}` })
        })
        yield* Console.log(`added '${args.name}' (${target.transport}, ${mcpServerEntry(target).url}) to ${path}`)
        if (target.token !== undefined) {
          yield* Console.error(`note: ${path} now holds the broker's token; keep it out of version control`)
        }
        return
      }
      if (args.global) {
        return yield* Console.log(`# every project of this user (Claude Code's user scope):\n${command}`)
      }
      yield* Console.log(
        [
          "# .mcp.json at the root of a project (or: claude-ipc-broker mcp-config --write):",
          JSON.stringify(mcpJson(target, args.name), null, 2),
          "",
          "# or, with the Claude Code CLI (this project only; --global prints the user-scope command):",
          command
        ].join("\n")
      )
    })
).pipe(
  Command.withDescription(
    describe(
      "How to connect Claude Code to this broker: the .mcp.json entry and the equivalent 'claude mcp add' " +
        "command, for the address and token given by --url/--token (or BROKER_URL/BROKER_TOKEN). " +
        "Does not contact the broker.",
      [
        "claude-ipc-broker mcp-config",
        "claude-ipc-broker mcp-config --write                  # add it to ./.mcp.json",
        "claude-ipc-broker mcp-config --global --url http://broker.lan:9100 --token \"$BROKER_TOKEN\"",
        "claude-ipc-broker mcp-config --transport sse"
      ]
    )
  )
)
