/**
 * How Claude Code is told about this broker: a `.mcp.json` entry, or the `claude mcp add` command
 * that records the same. Pure, so `serve` (for a generated token) and `mcp-config` print alike.
 */

export type McpTransport = "http" | "sse"

export const serverName = "claude-ipc-broker"

export interface McpTarget {
  /** The broker's address, e.g. http://127.0.0.1:9100. */
  readonly base: string
  readonly transport: McpTransport
  readonly token: string | undefined
}

const mcpUrl = ({ base, transport }: McpTarget): string => `${base}${transport === "http" ? "/mcp" : "/mcp/sse"}`

export interface McpServerEntry {
  readonly type: McpTransport
  readonly url: string
  readonly headers?: { readonly Authorization: string }
}

export const mcpServerEntry = (target: McpTarget): McpServerEntry => ({
  type: target.transport,
  url: mcpUrl(target),
  ...(target.token === undefined ? {} : { headers: { Authorization: `Bearer ${target.token}` } })
})

/** The whole `.mcp.json` for this one server. */
export const mcpJson = (target: McpTarget, name = serverName) => ({ mcpServers: { [name]: mcpServerEntry(target) } })

/** Quote for a POSIX shell only when needed, so the common case stays readable. */
const shellWord = (word: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)

/** `claude mcp add …`; user scope (every project of this user) when `global`, else the CLI's default (local). */
export const claudeMcpAdd = (target: McpTarget, options: { readonly global: boolean; readonly name?: string }): string =>
  [
    "claude mcp add",
    `--transport ${target.transport}`,
    ...(options.global ? ["--scope user"] : []),
    shellWord(options.name ?? serverName),
    shellWord(mcpUrl(target)),
    ...(target.token === undefined ? [] : [`--header ${shellWord(`Authorization: Bearer ${target.token}`)}`])
  ].join(" ")
