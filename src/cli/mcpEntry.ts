import { fileURLToPath } from "node:url"
import { defaultProject } from "../core/projects.js"
import { defaultMcpConfig } from "../mcp/Config.js"

/**
 * How an AI harness is told about this broker: the entry in each harness's own config format (and
 * for Claude Code the `claude mcp add` command that records the same). Pure but for `binPath`, so
 * `serve` (for a generated token) and `mcp-config` print alike.
 *
 * The formats were checked against each harness's documentation; what was checked is noted at each
 * entry function below.
 */

export type McpTransport = "http" | "sse"

export const mcpClients = ["claude", "codex", "gemini", "cursor", "vscode"] as const
export type McpClient = (typeof mcpClients)[number]

/** One name in every harness's config, in `serve`'s banner and in the docs. */
export const serverName = "broker"

/** The broker's MCP endpoint, reached over the network. */
export interface McpTarget {
  /** The broker's address, e.g. http://127.0.0.1:9100. */
  readonly base: string
  readonly transport: McpTransport
  readonly token: string | undefined
  /** The project its sessions act in (`/p/<project>/mcp`); none, or `default`, is the unprefixed `/mcp`. */
  readonly project?: string | undefined
}

/** The path prefix of a project's routes: none for `default`, whose routes are the unprefixed ones. */
const projectPrefix = (project: string | undefined): string =>
  project === undefined || project === defaultProject ? "" : `/p/${project}`

/** The stdio bridge (`claude-ipc-broker mcp`), a process the harness starts and talks to on stdin/stdout. */
export interface StdioLaunch {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** The token travels here rather than in `args`, where `ps` would show it to every user. */
  readonly env?: { readonly BROKER_TOKEN: string }
}

export type McpServer = McpTarget | StdioLaunch

export const isStdio = (server: McpServer): server is StdioLaunch => "command" in server

/**
 * This installation's bin. The module sits in src/cli (run through tsx) or dist/cli (compiled), so
 * the bin is two folders up either way; an absolute path, because a harness starts the bridge from
 * whatever folder it was opened in.
 */
export const binPath: string = fileURLToPath(new URL("../../bin/claude-ipc-broker.js", import.meta.url))

/**
 * How to start the bridge for the broker at `base`, optionally registered as `role` from the start,
 * in `project` (passed as `--project`, so the entry says which project it is for; none for default).
 */
export const bridgeLaunch = (
  target: {
    readonly base: string
    readonly token: string | undefined
    readonly role: string | undefined
    readonly project?: string | undefined
  },
  bin: string = binPath
): StdioLaunch => ({
  command: "node",
  args: [
    bin,
    "mcp",
    "--url",
    target.base,
    ...(projectPrefix(target.project) === "" ? [] : ["--project", target.project!]),
    ...(target.role === undefined ? [] : ["--role", target.role])
  ],
  ...(target.token === undefined ? {} : { env: { BROKER_TOKEN: target.token } })
})

export const mcpUrl = ({ base, transport, project }: McpTarget): string =>
  `${base}${projectPrefix(project)}${transport === "http" ? "/mcp" : "/mcp/sse"}`

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` })

const stdioFields = ({ command, args, env }: StdioLaunch) => ({ command, args, ...(env === undefined ? {} : { env }) })

export type McpServerEntry = {
  readonly type: McpTransport
  readonly url: string
  readonly headers?: { readonly Authorization: string }
}

/**
 * Claude Code (`.mcp.json`, `mcpServers`): `type` http or sse with `url` and `headers`, or `type`
 * stdio with `command`, `args`, `env`. Claude Code could expand `${VAR}` in headers, but the
 * literal token makes a pasted entry work whatever environment Claude Code starts in.
 */
export const mcpServerEntry = (target: McpTarget): McpServerEntry => ({
  type: target.transport,
  url: mcpUrl(target),
  ...(target.token === undefined ? {} : { headers: bearer(target.token) })
})

const claudeEntry = (server: McpServer) => (isStdio(server) ? { type: "stdio", ...stdioFields(server) } : mcpServerEntry(server))

/**
 * Codex's tool-call timeout (`tool_timeout_sec`) defaults to 60 s, shorter than the longest wait the
 * broker's MCP tools may park for; give a wait its whole length plus some slack to answer.
 */
export const codexToolTimeoutSeconds = defaultMcpConfig.maxWaitSeconds + 30

/**
 * Codex CLI (`~/.codex/config.toml`, or `.codex/config.toml` of a trusted project): a
 * `[mcp_servers.NAME]` table with `url` (Streamable HTTP only; Codex has no SSE client) or
 * `command`/`args`/`env` (stdio). Codex takes a bearer token only from the variable that
 * `bearer_token_env_var` names (its plain `bearer_token` field was replaced by that), so the token
 * is read from BROKER_TOKEN, the variable this tool already uses; a stdio server gets only the
 * environment Codex hands it, so there the token goes in `env`.
 */
const codexEntry = (server: McpServer) =>
  isStdio(server)
    ? { ...stdioFields(server), tool_timeout_sec: codexToolTimeoutSeconds }
    : {
        url: mcpUrl(server),
        ...(server.token === undefined ? {} : { bearer_token_env_var: "BROKER_TOKEN" }),
        tool_timeout_sec: codexToolTimeoutSeconds
      }

/**
 * Gemini CLI (`~/.gemini/settings.json` or `.gemini/settings.json`, `mcpServers`): `httpUrl` is
 * Streamable HTTP, `url` is SSE, `command`/`args`/`env` is stdio; `headers` for either URL. Gemini
 * could expand `$VAR` in settings, but the literal token works wherever gemini is started. Its
 * tool timeout (10 min by default) already outlasts the broker's waits.
 */
const geminiEntry = (server: McpServer) =>
  isStdio(server)
    ? stdioFields(server)
    : {
        [server.transport === "http" ? "httpUrl" : "url"]: mcpUrl(server),
        ...(server.token === undefined ? {} : { headers: bearer(server.token) })
      }

/**
 * Cursor (`.cursor/mcp.json` or `~/.cursor/mcp.json`, `mcpServers`): `url` and `headers` (Cursor
 * tells Streamable HTTP from SSE itself), or `command`/`args`/`env`. Cursor expands `${env:NAME}`,
 * but an editor started from a desktop launcher rarely has BROKER_TOKEN set, so the literal token.
 */
const cursorEntry = (server: McpServer) =>
  isStdio(server)
    ? stdioFields(server)
    : { url: mcpUrl(server), ...(server.token === undefined ? {} : { headers: bearer(server.token) }) }

/**
 * VS Code (`.vscode/mcp.json` or the user profile's mcp.json): a top-level `servers` object,
 * `{type: "http"|"sse", url, headers}` or `{type: "stdio", command, args, env}`. VS Code's way to
 * keep a secret out of the file is an `inputs` prompt, which would make the pasted entry ask for the
 * token; the literal token works at once, as in the other harnesses.
 */
const vscodeEntry = (server: McpServer) =>
  isStdio(server)
    ? { type: "stdio", ...stdioFields(server) }
    : { type: server.transport, url: mcpUrl(server), ...(server.token === undefined ? {} : { headers: bearer(server.token) }) }

/** The entry for one harness: what goes under the server's name in its config. */
export const clientEntry = (client: McpClient, server: McpServer): Record<string, unknown> => {
  switch (client) {
    case "claude":
      return claudeEntry(server)
    case "codex":
      return codexEntry(server)
    case "gemini":
      return geminiEntry(server)
    case "cursor":
      return cursorEntry(server)
    case "vscode":
      return vscodeEntry(server)
  }
}

/** The object that holds the servers in a harness's JSON config. */
export const serversKey = (client: Exclude<McpClient, "codex">): "servers" | "mcpServers" =>
  client === "vscode" ? "servers" : "mcpServers"

/** The whole `.mcp.json` for this one server. */
export const mcpJson = (server: McpServer, name = serverName) => ({ mcpServers: { [name]: claudeEntry(server) } })

/** A harness's JSON config holding only this server. */
export const clientJson = (client: Exclude<McpClient, "codex">, server: McpServer, name = serverName) => ({
  [serversKey(client)]: { [name]: clientEntry(client, server) }
})

type TomlValue = string | number | ReadonlyArray<string> | Readonly<Record<string, string>>

/**
 * A TOML basic string. JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`, …) are TOML's too; DEL is the one
 * control character JSON leaves bare and TOML does not allow.
 */
const tomlString = (text: string): string => JSON.stringify(text).replace(/\x7f/g, "\\u007f")

const tomlKey = (key: string): string => (/^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key))

const tomlValue = (value: TomlValue): string =>
  typeof value === "string"
    ? tomlString(value)
    : typeof value === "number"
      ? String(value)
      : Array.isArray(value)
        ? `[${value.map(tomlString).join(", ")}]`
        : `{ ${Object.entries(value as Record<string, string>)
            .map(([key, text]) => `${tomlKey(key)} = ${tomlString(text)}`)
            .join(", ")} }`

/** One TOML table; nested tables written inline, so the table is one block without blank lines. */
export const tomlTable = (path: ReadonlyArray<string>, entries: Readonly<Record<string, TomlValue>>): string =>
  [`[${path.map(tomlKey).join(".")}]`, ...Object.entries(entries).map(([key, value]) => `${tomlKey(key)} = ${tomlValue(value)}`)].join("\n")

/** Codex's `[mcp_servers.NAME]` table for this server. */
export const codexToml = (server: McpServer, name = serverName): string =>
  tomlTable(["mcp_servers", name], codexEntry(server) as Record<string, TomlValue>)

/** Quote for a POSIX shell only when needed, so the common case stays readable. */
const shellWord = (word: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)

/**
 * `claude mcp add …`; user scope (every project of this user) when `global`, else the CLI's default
 * (local). For stdio the name comes before `-e`, whose values are variadic and would swallow it.
 */
export const claudeMcpAdd = (server: McpServer, options: { readonly global: boolean; readonly name?: string }): string => {
  const scope = options.global ? ["--scope user"] : []
  const name = shellWord(options.name ?? serverName)
  if (isStdio(server)) {
    return [
      "claude mcp add",
      ...scope,
      name,
      ...(server.env === undefined ? [] : [`-e ${shellWord(`BROKER_TOKEN=${server.env.BROKER_TOKEN}`)}`]),
      "--",
      shellWord(server.command),
      ...server.args.map(shellWord)
    ].join(" ")
  }
  return [
    "claude mcp add",
    `--transport ${server.transport}`,
    ...scope,
    name,
    shellWord(mcpUrl(server)),
    ...(server.token === undefined ? [] : [`--header ${shellWord(`Authorization: Bearer ${server.token}`)}`])
  ].join(" ")
}
