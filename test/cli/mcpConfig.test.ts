import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parse as parseToml } from "smol-toml"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { codexToolTimeoutSeconds, mcpJson } from "../../src/cli/mcpEntry.js"
import { tool } from "./tool.js"

/**
 * `mcp-config` prints each config block alone after its `# …` comment lines, paragraphs apart: the
 * blocks here are taken out that way and parsed as the harness would (JSON.parse, a real TOML parser).
 */
interface Block {
  readonly comments: ReadonlyArray<string>
  readonly body: string
}

const blocksOf = (stdout: string): Array<Block> =>
  stdout
    .trimEnd()
    .split("\n\n")
    .map((paragraph) => {
      const lines = paragraph.split("\n")
      const first = lines.findIndex((line) => !line.startsWith("#"))
      const at = first === -1 ? lines.length : first
      return { comments: lines.slice(0, at), body: lines.slice(at).join("\n") }
    })

/** Run `mcp-config` and take out its first block (the config), checking it ran clean. */
const printed = async (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const run = await tool(["mcp-config", ...argv], { env })
  expect(run.stderr).toBe("")
  expect(run.code).toBe(0)
  const blocks = blocksOf(run.stdout)
  const first = blocks[0]
  if (first === undefined) throw new Error(`nothing printed: ${run.stdout}`)
  expect(first.comments.length).toBeGreaterThan(0)
  return { ...first, blocks, stdout: run.stdout }
}

const json = async (argv: ReadonlyArray<string>, env?: Record<string, string>) => JSON.parse((await printed(argv, env)).body) as unknown
const toml = async (argv: ReadonlyArray<string>, env?: Record<string, string>) => parseToml((await printed(argv, env)).body) as unknown

const at = ["--url", "http://broker.lan:9100/"]
const withToken = [...at, "--token", "s3cret"]
const bin = resolve("bin/claude-ipc-broker.js")
const auth = { Authorization: "Bearer s3cret" }
const bridge = (...more: Array<string>) => [bin, "mcp", "--url", "http://broker.lan:9100", ...more]

describe("mcp-config --client", () => {
  it("claude (the default): .mcp.json under the name broker, and the claude mcp add command", async () => {
    const out = await printed(withToken)
    expect(JSON.parse(out.body)).toEqual({
      mcpServers: { broker: { type: "http", url: "http://broker.lan:9100/mcp", headers: auth } }
    })
    expect(out.comments).toEqual(["# .mcp.json at the root of a project (or: claude-ipc-broker mcp-config --write):"])
    expect(out.blocks[1]?.body).toBe(
      "claude mcp add --transport http broker http://broker.lan:9100/mcp --header 'Authorization: Bearer s3cret'"
    )
    expect(await json(["--client", "claude", ...at, "--transport", "sse"])).toEqual({
      mcpServers: { broker: { type: "sse", url: "http://broker.lan:9100/mcp/sse" } }
    })
  })

  it("codex: a [mcp_servers.broker] table that takes the token from BROKER_TOKEN, never inline", async () => {
    const out = await printed(["--client", "codex", ...withToken])
    expect(out.body).not.toContain("s3cret")
    expect(out.comments.join("\n")).toContain("~/.codex/config.toml")
    expect(out.comments.join("\n")).toContain("BROKER_TOKEN")
    expect(parseToml(out.body)).toEqual({
      mcp_servers: {
        broker: {
          url: "http://broker.lan:9100/mcp",
          bearer_token_env_var: "BROKER_TOKEN",
          tool_timeout_sec: codexToolTimeoutSeconds
        }
      }
    })
    expect(await toml(["--client", "codex", ...at])).toEqual({
      mcp_servers: { broker: { url: "http://broker.lan:9100/mcp", tool_timeout_sec: codexToolTimeoutSeconds } }
    })
    // Longer than any wait the broker's MCP tools park for, unlike Codex's default of 60 s.
    expect(codexToolTimeoutSeconds).toBeGreaterThan(60)
  })

  it("gemini: settings.json mcpServers, httpUrl for Streamable HTTP and url for SSE", async () => {
    expect(await json(["--client", "gemini", ...withToken])).toEqual({
      mcpServers: { broker: { httpUrl: "http://broker.lan:9100/mcp", headers: auth } }
    })
    expect(await json(["--client", "gemini", ...at, "--transport", "sse"])).toEqual({
      mcpServers: { broker: { url: "http://broker.lan:9100/mcp/sse" } }
    })
  })

  it("cursor: mcp.json mcpServers with url and headers", async () => {
    expect(await json(["--client", "cursor", ...withToken])).toEqual({
      mcpServers: { broker: { url: "http://broker.lan:9100/mcp", headers: auth } }
    })
    expect(await json(["--client", "cursor", ...at])).toEqual({ mcpServers: { broker: { url: "http://broker.lan:9100/mcp" } } })
  })

  it("vscode: mcp.json with a top-level servers object and a type", async () => {
    expect(await json(["--client", "vscode", ...withToken])).toEqual({
      servers: { broker: { type: "http", url: "http://broker.lan:9100/mcp", headers: auth } }
    })
    expect(await json(["--client", "vscode", ...at, "--transport", "sse"])).toEqual({
      servers: { broker: { type: "sse", url: "http://broker.lan:9100/mcp/sse" } }
    })
  })

  it("takes the address and token from BROKER_URL and BROKER_TOKEN, and --name over broker", async () => {
    expect(await json(["--client", "cursor", "--name", "hub"], { BROKER_URL: "http://h:9", BROKER_TOKEN: "t" })).toEqual({
      mcpServers: { hub: { url: "http://h:9/mcp", headers: { Authorization: "Bearer t" } } }
    })
    expect(await toml(["--client", "codex", "--name", "team.broker", ...at])).toEqual({
      mcp_servers: { "team.broker": { url: "http://broker.lan:9100/mcp", tool_timeout_sec: codexToolTimeoutSeconds } }
    })
  })
})

describe("mcp-config --stdio", () => {
  const env = { BROKER_TOKEN: "s3cret" }

  it("runs this installation's bin as the bridge, the token in env and never in args", async () => {
    expect(existsSync(bin)).toBe(true)
    const claude = await printed(["--stdio", ...withToken, "--role", "backend"])
    expect(JSON.parse(claude.body)).toEqual({
      mcpServers: { broker: { type: "stdio", command: "node", args: bridge("--role", "backend"), env } }
    })
    expect(claude.body.split("s3cret")).toHaveLength(2)
    expect(claude.comments[0]).toContain("claude-ipc-broker mcp-config --stdio --role backend --write")
    expect(claude.blocks[1]?.body).toBe(
      `claude mcp add broker -e BROKER_TOKEN=s3cret -- node ${bin} mcp --url http://broker.lan:9100 --role backend`
    )
    const global = await tool(["mcp-config", "--stdio", "--global", ...at])
    expect(global.stdout).toContain(`claude mcp add --scope user broker -- node ${bin} mcp --url http://broker.lan:9100\n`)
  })

  it("prints the same launch in every harness's format, with or without a token", async () => {
    for (const token of [[], ["--token", "s3cret"]]) {
      const withEnv = token.length > 0 ? { env } : {}
      const launch = { command: "node", args: bridge(), ...withEnv }
      const argv = ["--stdio", ...at, ...token]
      expect(await json(["--client", "claude", ...argv])).toEqual({ mcpServers: { broker: { type: "stdio", ...launch } } })
      expect(await json(["--client", "gemini", ...argv])).toEqual({ mcpServers: { broker: launch } })
      expect(await json(["--client", "cursor", ...argv])).toEqual({ mcpServers: { broker: launch } })
      expect(await json(["--client", "vscode", ...argv])).toEqual({ servers: { broker: { type: "stdio", ...launch } } })
      expect(await toml(["--client", "codex", ...argv])).toEqual({
        mcp_servers: { broker: { ...launch, tool_timeout_sec: codexToolTimeoutSeconds } }
      })
    }
  })

  it("writes TOML strings a parser reads back exactly", async () => {
    const token = `q"uo\\te'\ttab é ✓`
    expect(await toml(["--client", "codex", "--stdio", ...at, "--token", token])).toMatchObject({
      mcp_servers: { broker: { env: { BROKER_TOKEN: token } } }
    })
  })
})

describe("mcp-config --project", () => {
  it("points every harness's URL entry at /p/<project>/mcp (/mcp/sse for SSE)", async () => {
    const url = "http://broker.lan:9100/p/alpha/mcp"
    expect(await json([...withToken, "--project", "alpha"])).toEqual({ mcpServers: { broker: { type: "http", url, headers: auth } } })
    expect(await json([...at, "--project", "alpha", "--transport", "sse"])).toEqual({
      mcpServers: { broker: { type: "sse", url: "http://broker.lan:9100/p/alpha/mcp/sse" } }
    })
    expect(await json(["--client", "gemini", ...at, "--project", "alpha"])).toEqual({ mcpServers: { broker: { httpUrl: url } } })
    expect(await json(["--client", "cursor", ...at, "--project", "alpha"])).toEqual({ mcpServers: { broker: { url } } })
    expect(await json(["--client", "vscode", ...at, "--project", "alpha"])).toEqual({ servers: { broker: { type: "http", url } } })
    expect(await toml(["--client", "codex", ...at, "--project", "alpha"])).toEqual({
      mcp_servers: { broker: { url, tool_timeout_sec: codexToolTimeoutSeconds } }
    })
    const out = await printed([...at, "--project", "alpha"])
    expect(out.comments[0]).toContain("claude-ipc-broker mcp-config --project alpha --write")
    expect(out.blocks[1]?.body).toBe(`claude mcp add --transport http broker ${url}`)
  })

  it("takes BROKER_PROJECT, the flag over it; default (or none) is the unprefixed /mcp", async () => {
    expect(await json(["--client", "cursor", ...at], { BROKER_PROJECT: "beta" })).toEqual({
      mcpServers: { broker: { url: "http://broker.lan:9100/p/beta/mcp" } }
    })
    expect(await json(["--client", "cursor", ...at, "--project", "alpha"], { BROKER_PROJECT: "beta" })).toEqual({
      mcpServers: { broker: { url: "http://broker.lan:9100/p/alpha/mcp" } }
    })
    expect(await json(["--client", "cursor", ...at, "--project", "default"])).toEqual({
      mcpServers: { broker: { url: "http://broker.lan:9100/mcp" } }
    })
  })

  it("--stdio: the bridge is started with --project", async () => {
    const claude = await printed(["--stdio", ...at, "--project", "alpha", "--role", "backend"])
    expect(JSON.parse(claude.body)).toEqual({
      mcpServers: { broker: { type: "stdio", command: "node", args: bridge("--project", "alpha", "--role", "backend") } }
    })
    expect(claude.blocks[1]?.body).toBe(`claude mcp add broker -- node ${bin} mcp --url http://broker.lan:9100 --project alpha --role backend`)
    expect(await toml(["--client", "codex", "--stdio", ...at], { BROKER_PROJECT: "beta" })).toEqual({
      mcp_servers: { broker: { command: "node", args: bridge("--project", "beta"), tool_timeout_sec: codexToolTimeoutSeconds } }
    })
    expect(await json(["--client", "cursor", "--stdio", ...at, "--project", "default"])).toEqual({
      mcpServers: { broker: { command: "node", args: bridge() } }
    })
  })

  it("--write adds the project's entry and says which project", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "mcp-config-project-"))
    try {
      const url = await tool(["mcp-config", "--write", ...at, "--project", "alpha"], { cwd })
      expect(url.code).toBe(0)
      expect(url.stdout).toContain("(http, http://broker.lan:9100/p/alpha/mcp)")
      const stdio = await tool(["mcp-config", "--write", "--client", "cursor", "--stdio", ...at, "--project", "alpha"], { cwd })
      expect(stdio.stdout).toContain("(stdio bridge to http://broker.lan:9100, project alpha)")
      expect(JSON.parse(await readFile(join(cwd, ".cursor", "mcp.json"), "utf8"))).toEqual({
        mcpServers: { broker: { command: "node", args: bridge("--project", "alpha") } }
      })
    } finally {
      await rm(cwd, { recursive: true, force: true })
    }
  })

  it("refuses a bad name with exit 2: the flag, and BROKER_PROJECT", async () => {
    const flag = await tool(["mcp-config", ...at, "--project", "Alpha"])
    expect(flag.code).toBe(2)
    expect(flag.stdout).toBe("")
    expect(flag.stderr).toMatch(/--project 'Alpha' is not a project name/)
    const env = await tool(["mcp-config", ...at], { env: { BROKER_PROJECT: "a/b" } })
    expect(env.code).toBe(2)
    expect(env.stderr).toMatch(/BROKER_PROJECT 'a\/b' is not a project name/)
  })
})

describe("mcp-config --write", () => {
  let cwd: string
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "mcp-config-write-"))
  })
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true })
  })

  const write = (argv: ReadonlyArray<string>) => tool(["mcp-config", "--write", ...argv], { cwd })
  const read = async (...path: Array<string>) => JSON.parse(await readFile(join(cwd, ...path), "utf8")) as unknown

  it("cursor: creates .cursor/mcp.json, then merges into it keeping the other servers", async () => {
    const created = await write(["--client", "cursor", ...at])
    expect(created.code).toBe(0)
    expect(created.stdout).toContain(`to ${join(cwd, ".cursor", "mcp.json")}`)
    expect(await read(".cursor", "mcp.json")).toEqual({ mcpServers: { broker: { url: "http://broker.lan:9100/mcp" } } })
    await writeFile(join(cwd, ".cursor", "mcp.json"), JSON.stringify({ mcpServers: { other: { command: "x" } } }))
    const merged = await write(["--client", "cursor", "--stdio", ...withToken])
    expect(merged.code).toBe(0)
    expect(merged.stderr).toContain("now holds the broker's token")
    expect(await read(".cursor", "mcp.json")).toEqual({
      mcpServers: { other: { command: "x" }, broker: { command: "node", args: bridge(), env: { BROKER_TOKEN: "s3cret" } } }
    })
  })

  it("claude: writes ./.mcp.json and says Claude Code holds it pending approval until claude runs there", async () => {
    const run = await write([...at])
    expect(run.code).toBe(0)
    expect(await read(".mcp.json")).toEqual({ mcpServers: { broker: { type: "http", url: "http://broker.lan:9100/mcp" } } })
    expect(run.stderr).toBe(
      `note: Claude Code lists 'broker' as "Pending approval" until you start claude in ${cwd} and approve it (or approve it in /mcp there)\n`
    )
  })

  it("vscode: merges under servers in .vscode/mcp.json, keeping inputs and other servers", async () => {
    await mkdir(join(cwd, ".vscode"), { recursive: true })
    const inputs = [{ type: "promptString", id: "k", description: "key", password: true }]
    await writeFile(join(cwd, ".vscode", "mcp.json"), JSON.stringify({ inputs, servers: { other: { type: "stdio", command: "x" } } }))
    expect((await write(["--client", "vscode", ...withToken])).code).toBe(0)
    expect(await read(".vscode", "mcp.json")).toEqual({
      inputs,
      servers: { other: { type: "stdio", command: "x" }, broker: { type: "http", url: "http://broker.lan:9100/mcp", headers: auth } }
    })
  })

  it("gemini: merges under mcpServers in .gemini/settings.json, keeping the other settings", async () => {
    await mkdir(join(cwd, ".gemini"), { recursive: true })
    const settings = { ui: { theme: "Dracula" }, mcp: { allowed: ["broker", "other"] }, mcpServers: { other: { httpUrl: "http://o/mcp" } } }
    await writeFile(join(cwd, ".gemini", "settings.json"), JSON.stringify(settings))
    expect((await write(["--client", "gemini", ...at, "--transport", "sse"])).code).toBe(0)
    expect(await read(".gemini", "settings.json")).toEqual({
      ...settings,
      mcpServers: { other: { httpUrl: "http://o/mcp" }, broker: { url: "http://broker.lan:9100/mcp/sse" } }
    })
  })

  it("leaves a file that is not a JSON object with an object of servers alone", async () => {
    const path = join(cwd, ".vscode", "mcp.json")
    for (const text of ['{ "servers": {}, // a comment\n }', "[]", '{"servers": []}']) {
      await writeFile(path, text)
      const run = await write(["--client", "vscode", ...at])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(`left ${path} as it was`)
      expect(await readFile(path, "utf8")).toBe(text)
    }
  })

  it("refuses codex, which reads only TOML it does not edit", async () => {
    const run = await write(["--client", "codex", ...at])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("~/.codex/config.toml")
    expect(run.stderr).toContain("append the printed [mcp_servers.broker] table there")
    expect(existsSync(join(cwd, ".codex"))).toBe(false)
  })
})

describe("mcp-config refuses", () => {
  it.each([
    [["--client", "zed"], "--client takes claude, codex, gemini, cursor or vscode, not 'zed'"],
    [["--role", "backend"], "--role is passed to the stdio bridge: add --stdio"],
    [["--stdio", "--transport", "sse"], "--transport picks the URL's transport"],
    [["--client", "codex", "--transport", "sse"], "Codex speaks Streamable HTTP and stdio"],
    [["--client", "cursor", "--global"], "--global is Claude Code's user scope"],
    [["--stdio", "--role", "two words"], "--role 'two words' is not a valid name"]
  ])("%j with exit code 2", async (argv, message) => {
    const run = await tool(["mcp-config", ...argv])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain(message)
  })
})

describe("serve's banner", () => {
  it("names the server broker in its .mcp.json lines, as mcp-config does", () => {
    expect(mcpJson({ base: "http://localhost:9322", transport: "http", token: "t" })).toEqual({
      mcpServers: { broker: { type: "http", url: "http://localhost:9322/mcp", headers: { Authorization: "Bearer t" } } }
    })
  })
})
