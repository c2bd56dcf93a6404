import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { networkInterfaces } from "node:os"
import { dirname, join } from "node:path"
import { defaultProject } from "../core/projects.js"
import { isLoopback } from "../http/guard.js"
import { Failed, UsageError } from "./errors.js"
import { CliIo } from "./io.js"
import { onLan } from "./lanAddresses.js"
import {
  bridgeLaunch,
  claudeMcpAdd,
  clientEntry,
  clientJson,
  codexToml,
  isStdio,
  mcpClients,
  mcpUrl,
  serverName,
  serversKey,
  type McpClient,
  type McpServer,
  type McpTransport
} from "./mcpEntry.js"
import { connection, connectionOptions, describe, nameOf, oneOf, projectFrom, projectOption, roleOption } from "./options.js"

type JsonClient = Exclude<McpClient, "codex">

/** The file `--write` edits for each harness that reads a project-level JSON file, from the current folder. */
const projectFile: Readonly<Record<JsonClient, ReadonlyArray<string>>> = {
  claude: [".mcp.json"],
  cursor: [".cursor", "mcp.json"],
  vscode: [".vscode", "mcp.json"],
  gemini: [".gemini", "settings.json"]
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * A harness's JSON config with this broker's entry added under `key` (or replaced), every other
 * server and setting kept. Refuses a file that is not a JSON object with an object `key`, rather
 * than guess what it meant (or drop the comments some harnesses allow).
 */
export const mergeServers = (existing: string | undefined, key: string, name: string, entry: unknown): string => {
  let config: unknown = {}
  if (existing !== undefined && existing.trim() !== "") {
    try {
      config = JSON.parse(existing)
    } catch (error) {
      throw new Error(`it is not plain JSON (${error instanceof Error ? error.message : String(error)}); add the entry by hand`)
    }
  }
  if (!isObject(config)) throw new Error("it is not a JSON object")
  const servers = config[key] ?? {}
  if (!isObject(servers)) throw new Error(`its ${key} is not an object`)
  return `${JSON.stringify({ ...config, [key]: { ...servers, [name]: entry } }, null, 2)}\n`
}

const readIfThere = (path: string) =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })

const labels: Readonly<Record<McpClient, string>> = {
  claude: "Claude Code",
  codex: "Codex",
  gemini: "Gemini CLI",
  cursor: "Cursor",
  vscode: "VS Code"
}

interface Choice {
  readonly client: McpClient
  /** As given by --project: BROKER_PROJECT is read by the printing run and the --write run alike. */
  readonly project: Option.Option<string>
  readonly transport: Option.Option<McpTransport>
  readonly stdio: boolean
  readonly role: Option.Option<string>
  readonly global: boolean
  readonly write: boolean
  readonly lan: boolean
}

/** Flags that do not go together, as the one line to print; undefined when they do. */
export const refusal = (choice: Choice, name: string): string | undefined => {
  const { client } = choice
  if (Option.isSome(choice.role) && !choice.stdio) {
    return "--role is passed to the stdio bridge: add --stdio (over a URL the session picks its role with connect)"
  }
  if (choice.lan && choice.stdio) {
    return "--lan makes an entry for another PC, but a --stdio entry starts this installation's bridge by its path here: drop one of them"
  }
  if (choice.stdio && Option.isSome(choice.transport)) {
    return "--transport picks the URL's transport; with --stdio the harness talks to the bridge on stdin/stdout"
  }
  if (client === "codex" && Option.getOrUndefined(choice.transport) === "sse") {
    return "Codex speaks Streamable HTTP and stdio, not the legacy SSE transport: drop --transport sse"
  }
  if (choice.global && client !== "claude") {
    return `--global is Claude Code's user scope ('claude mcp add --scope user'); for ${labels[client]} drop it: the printed entry says where the user-wide file is`
  }
  if (choice.write && client === "codex") {
    return (
      "--write does not edit Codex's TOML: Codex reads ~/.codex/config.toml (and .codex/config.toml of a trusted project); " +
      `run without --write and append the printed [mcp_servers.${name}] table there`
    )
  }
  return undefined
}

/**
 * `mcp-config … --write` with the flags that shape this same entry (the address and token come
 * from --url/--token or the environment, as for the printing run).
 */
export const writeCommand = (choice: Choice, name: string): string =>
  [
    "claude-ipc-broker mcp-config",
    ...(choice.client === "claude" ? [] : [`--client ${choice.client}`]),
    ...Option.match(choice.transport, { onNone: () => [], onSome: (transport) => [`--transport ${transport}`] }),
    ...(choice.stdio ? ["--stdio"] : []),
    ...(choice.lan ? ["--lan"] : []),
    ...Option.match(choice.project, { onNone: () => [], onSome: (project) => [`--project ${project}`] }),
    ...Option.match(choice.role, { onNone: () => [], onSome: (role) => [`--role ${role}`] }),
    ...(name === serverName ? [] : [`--name ${name}`]),
    "--write"
  ].join(" ")

const json = (value: unknown) => JSON.stringify(value, null, 2)

/**
 * What to paste and where, for one harness: each block alone after its `# …` comment lines and
 * followed by a blank line, so that a reader (or a test) can take it out whole.
 */
export const instructions = (
  client: McpClient,
  server: McpServer,
  options: { readonly name: string; readonly global: boolean; readonly write: string }
): string => {
  const { name, global, write } = options
  switch (client) {
    case "claude": {
      const command = claudeMcpAdd(server, { global, name })
      if (global) return `# every project of this user (Claude Code's user scope):\n${command}`
      return [
        `# .mcp.json at the root of a project (or: ${write}):`,
        json(clientJson(client, server, name)),
        "",
        "# or, with the Claude Code CLI (this project only; --global prints the user-scope command):",
        command
      ].join("\n")
    }
    case "codex":
      return [
        "# Codex: append to ~/.codex/config.toml (or .codex/config.toml of a trusted project):",
        ...(!isStdio(server) && server.token !== undefined
          ? ["# Codex sends the token from $BROKER_TOKEN: start codex where BROKER_TOKEN holds the broker's token"]
          : []),
        codexToml(server, name)
      ].join("\n")
    case "gemini":
      return [
        `# Gemini CLI: merge into ~/.gemini/settings.json (every project) or .gemini/settings.json (this project; or: ${write}):`,
        json(clientJson(client, server, name))
      ].join("\n")
    case "cursor":
      return [
        `# Cursor: .cursor/mcp.json in a project (or: ${write}), or ~/.cursor/mcp.json for every project:`,
        json(clientJson(client, server, name))
      ].join("\n")
    case "vscode":
      return [
        `# VS Code: .vscode/mcp.json in a workspace (or: ${write}), or the user's mcp.json (MCP: Open User Configuration):`,
        json(clientJson(client, server, name))
      ].join("\n")
  }
}

/** How the added entry reaches the broker, for the line `--write` prints. */
const reach = (server: McpServer, base: string, project: string): string =>
  isStdio(server)
    ? `stdio bridge to ${base}${project === defaultProject ? "" : `, project ${project}`}`
    : `${server.transport}, ${mcpUrl(server)}`

/**
 * The broker's URL as another PC reaches it, for `--lan`. Only a loopback address is replaced: a
 * --url (or BROKER_URL) that names another host already says where the broker is, and --lan
 * beside it is a mistake worth saying rather than a flag silently ignored.
 */
const lanUrl = (url: string): Effect.Effect<string, UsageError | Failed> => {
  const host = new URL(url).hostname
  const replaced = onLan(url, networkInterfaces())
  if (replaced !== undefined) return Effect.succeed(replaced)
  return isLoopback(host)
    ? Effect.fail(new Failed({ message: "--lan: this machine has no LAN address (only loopback interfaces); give the broker's address with --url" }))
    : Effect.fail(new UsageError({ message: `--lan replaces a loopback address, but the URL already names ${host}: drop --lan` }))
}

export const mcpConfig = Command.make(
  "mcp-config",
  {
    ...connectionOptions,
    client: oneOf("client", mcpClients).pipe(
      Options.withDescription("the harness whose config to print: Claude Code, Codex CLI, Gemini CLI, Cursor or VS Code"),
      Options.withDefault("claude" as const)
    ),
    transport: oneOf("transport", ["http", "sse"]).pipe(
      Options.withDescription("Streamable HTTP (/mcp, preferred; the default) or the legacy SSE transport (/mcp/sse)"),
      Options.optional
    ),
    stdio: Options.boolean("stdio").pipe(
      Options.withDescription("an entry that starts the stdio bridge ('claude-ipc-broker mcp --url …') instead of a URL")
    ),
    role: roleOption("with --stdio: the bridge registers as this role at start"),
    project: projectOption("the project its sessions act in: the URL ends in /p/<project>/mcp, a --stdio bridge gets --project (default $BROKER_PROJECT, else default)"),
    lan: Options.boolean("lan").pipe(
      Options.withDescription(
        "an entry for another PC: this machine's LAN address in place of a loopback --url (127.0.0.1, localhost)"
      )
    ),
    global: Options.boolean("global").pipe(
      Options.withDescription("Claude Code only: for every project of this user, the 'claude mcp add --scope user' command")
    ),
    write: Options.boolean("write").pipe(
      Options.withDescription(
        "add the entry to this project's file (./.mcp.json, ./.cursor/mcp.json, ./.vscode/mcp.json or ./.gemini/settings.json), keeping the rest"
      )
    ),
    name: Options.text("name").pipe(
      Options.withPseudoName("name"),
      Options.withDescription(`the server's name in the harness's config (default ${serverName})`),
      Options.mapEffect((value) => nameOf("--name", value)),
      Options.withDefault(serverName)
    )
  },
  (args) =>
    Effect.gen(function* () {
      const given = yield* connection(args)
      const io = yield* CliIo
      const { client, name } = args
      const refused = refusal(args, name)
      if (refused !== undefined) return yield* new UsageError({ message: refused })
      const project = yield* projectFrom(args.project, (yield* CliIo).env)
      const broker = args.lan ? { ...given, url: yield* lanUrl(given.url) } : given
      const server: McpServer = args.stdio
        ? bridgeLaunch({ base: broker.url, token: broker.token, role: Option.getOrUndefined(args.role), project })
        : { base: broker.url, transport: Option.getOrElse(args.transport, () => "http" as const), token: broker.token, project }
      if (!args.write) {
        return yield* Console.log(instructions(client, server, { name, global: args.global, write: writeCommand(args, name) }))
      }
      if (client === "codex") return // refused above; narrows the type
      if (args.global) {
        return yield* new UsageError({
          message: `--write edits ./.mcp.json (this project); for --global run: ${claudeMcpAdd(server, { global: true, name })}`
        })
      }
      const path = join(io.cwd, ...projectFile[client])
      yield* Effect.tryPromise({
        try: async () => {
          const merged = mergeServers(await readIfThere(path), serversKey(client), name, clientEntry(client, server))
          await mkdir(dirname(path), { recursive: true })
          await writeFile(path, merged)
        },
        catch: (error) => new Failed({ message: `left ${path} as it was: ${error instanceof Error ? error.message : String(error)}` })
      })
      yield* Console.log(`added '${name}' (${reach(server, broker.url, project)}) to ${path}`)
      if (client === "claude") {
        // Claude Code asks once before it uses a project's .mcp.json server; until then it is not connected.
        yield* Console.error(
          `note: Claude Code lists '${name}' as "Pending approval" until you start claude in ${dirname(path)} and approve it ` +
            "(or approve it in /mcp there)"
        )
      }
      if (broker.token !== undefined) {
        yield* Console.error(`note: ${path} now holds the broker's token; keep it out of version control`)
      }
    })
).pipe(
  Command.withDescription(
    describe(
      "How to connect an AI harness to this broker: the MCP entry in the harness's own format (Claude Code's " +
        ".mcp.json and 'claude mcp add' command, Codex's config.toml table, Gemini CLI's settings.json, Cursor's " +
        "or VS Code's mcp.json), for the address and token given by --url/--token (or BROKER_URL/BROKER_TOKEN). " +
        "Does not contact the broker.",
      [
        "claude-ipc-broker mcp-config",
        "claude-ipc-broker mcp-config --write                  # add it to ./.mcp.json",
        "claude-ipc-broker mcp-config --lan --token \"$BROKER_TOKEN\"  # for another PC: this machine's LAN address",
        "claude-ipc-broker mcp-config --global --url http://broker.lan:9100 --token \"$BROKER_TOKEN\"",
        "claude-ipc-broker mcp-config --client codex           # a [mcp_servers.broker] table for ~/.codex/config.toml",
        "claude-ipc-broker mcp-config --client cursor --write  # add it to ./.cursor/mcp.json",
        "claude-ipc-broker mcp-config --client vscode --stdio --role backend",
        "claude-ipc-broker mcp-config --project alpha --write  # sessions of project alpha: /p/alpha/mcp",
        "claude-ipc-broker mcp-config --transport sse"
      ],
      [
        "--stdio: the entry starts this installation's stdio bridge (node …/bin/claude-ipc-broker.js mcp --url …), " +
          "with the token in its environment; --role makes the bridge register as that role at start."
      ]
    )
  )
)
