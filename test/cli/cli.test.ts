import { mkdtemp, rm, unlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker } from "../support/broker.js"
import { runBin, spawnBroker } from "../support/process.js"
import { tool } from "./tool.js"

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return (await response.json()) as Record<string, any>
}
const get = async (url: string) => (await (await fetch(url)).json()) as Record<string, any>

describe("the claude-ipc-broker bin", () => {
  it("lists its subcommands with --help", async () => {
    const root = await tool(["--help"])
    expect(root.code).toBe(0)
    for (const subcommand of ["serve", "status", "peers", "projects", "send", "signal", "wait-signal", "publish", "read", "tail", "export", "replay", "mcp-config", "mcp"]) {
      expect(root.stdout).toMatch(new RegExp(`^  ${subcommand} `, "m"))
    }
  })

  it("gives every subcommand a --help with examples", async () => {
    for (const subcommand of ["serve", "status", "peers", "projects", "send", "signal", "wait-signal", "publish", "read", "tail", "export", "replay", "mcp-config", "mcp"]) {
      const { code, stdout } = await tool([subcommand, "--help"])
      expect(code, subcommand).toBe(0)
      expect(stdout, subcommand).toContain("EXAMPLES")
      expect(stdout, subcommand).toContain(`$ claude-ipc-broker ${subcommand === "serve" ? "" : subcommand}`)
      expect(stdout, subcommand).not.toContain("\x1b[")
      expect(stdout, subcommand).not.toContain("This setting is optional.")
    }
  })

  it("refuses a bad serve flag value with the flag's own message", async () => {
    const badPort = await tool(["--port", "http"])
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toBe("claude-ipc-broker: --port takes a whole number, not 'http' (see claude-ipc-broker serve --help)\n")
    const badLevel = await tool(["--memory", "--log-level", "verbose"])
    expect(badLevel.code).toBe(2)
    expect(badLevel.stderr).toContain("--log-level takes debug, info, warning or error, not 'verbose'")
    const badFormat = await tool(["replay", "x.ndjson", "--log-format", "xml"])
    expect(badFormat.code).toBe(2)
  })

  it("shows serve's flags and examples with serve --help", async () => {
    const serve = await runBin(["serve", "--help"])
    expect(serve.code).toBe(0)
    expect(serve.stdout).toContain("--data-dir")
    expect(serve.stdout).toContain("--memory")
    expect(serve.stdout).toContain("$ claude-ipc-broker --port 9100 --data-dir ./data")
    expect(serve.stdout).not.toContain("\x1b[")
  }, 60_000)

  it("refuses a bad flag with one clear line and exit code 2", async () => {
    const unknown = await runBin(["--bogus"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1)
    expect(unknown.stderr).toContain("--bogus")
  }, 60_000)

  it("says in one line, with exit code 1, that a broker cannot be reached", async () => {
    const { code, stdout, stderr } = await runBin(["status", "--url", "http://127.0.0.1:1"])
    expect(code).toBe(1)
    expect(stdout).toBe("")
    expect(stderr).toMatch(/^claude-ipc-broker: cannot reach the broker at http:\/\/127\.0\.0\.1:1 .*\n$/)
  }, 60_000)

  it("says where it listens, where the dashboard is and which log it uses", async () => {
    const broker = await spawnBroker(["--memory", "--log-format", "json"])
    try {
      expect(broker.output()).toContain("/dashboard")
      expect(broker.output()).toContain("memory")
      expect((await fetch(`${broker.url}/healthz`)).status).toBe(200)
    } finally {
      expect(await broker.stop()).toBe(0)
    }
    // Logs are JSON lines on stderr; the announcement stays plain on stdout.
    const logs = broker.output().split("\n").filter((line) => line.startsWith("{"))
    const parsed = logs.map((line) => JSON.parse(line))
    expect(parsed).toContainEqual(
      expect.objectContaining({
        logLevel: "INFO",
        message: "broker started",
        annotations: expect.objectContaining({ backend: "memory", address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })
      })
    )
    expect(parsed).toContainEqual(expect.objectContaining({ logLevel: "INFO", message: "broker stopped" }))
  })

  it("replays a log exported from another broker, read-only, with the dashboard", async () => {
    const dir = await mkdtemp(join(tmpdir(), "broker-replay-"))
    const source = await startBroker()
    try {
      await post(`${source.url}/peers/connect`, { id: "w1", role: "worker" })
      await post(`${source.url}/signals/ready`, { data: 1 })
      const exported = await tool(["export", "--url", source.url])
      expect(exported.code).toBe(0)
      await writeFile(join(dir, "incident.ndjson"), exported.stdout)
    } finally {
      await source.close()
    }
    const replay = await spawnBroker(["replay", join(dir, "incident.ndjson")])
    try {
      expect(replay.output()).toContain("replay of")
      const status = await get(`${replay.url}/status`)
      expect(status.log).toEqual({ head: 2, backend: "replay" })
      expect(status.peers.map((peer: any) => peer.id)).toEqual(["w1"])
      expect((await fetch(`${replay.url}/dashboard/`)).status).toBe(200)
      const refused = await fetch(`${replay.url}/signals/ready`, { method: "DELETE" })
      expect(refused.status).toBe(405)
    } finally {
      expect(await replay.stop("SIGINT")).toBe(0)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe("the file log across restarts", () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "broker-restart-"))
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it("loses nothing when restarted on the same data dir, with or without its checkpoint", async () => {
    const first = await spawnBroker(["--data-dir", dataDir])
    const peer = await post(`${first.url}/peers/connect`, { role: "backend", capabilities: ["tcp"] })
    const sent = await post(`${first.url}/commands/send`, { target: "backend", action: "build", params: { n: 1 } })
    await post(`${first.url}/channels/results/send`, { ok: true })
    await post(`${first.url}/signals/ready`, { data: 7 })
    const delivered = await get(`${first.url}/commands/${peer.id}/wait?timeout=5000`)
    expect(delivered.command.id).toBe(sent.id)
    const before = await get(`${first.url}/status`)
    expect(await first.stop()).toBe(0)

    const second = await spawnBroker(["--data-dir", dataDir])
    const after = await get(`${second.url}/status`)
    expect(after.log.head).toBe(before.log.head)
    expect(after.peers).toEqual(before.peers)
    expect(after.commands).toEqual(before.commands)
    expect(after.channels).toEqual(before.channels)
    expect(after.signals).toEqual(before.signals)
    const messages = await get(`${second.url}/channels/results/messages?since=0`)
    expect(messages.messages.map((m: any) => m.data)).toEqual([{ ok: true }])
    // Keeps counting where it stopped.
    const more = await post(`${second.url}/channels/results/send`, { ok: "again" })
    expect(more.id).toBe(2)
    const head = (await get(`${second.url}/status`)).log.head
    expect(await second.stop()).toBe(0)

    // The checkpoint is only an optimisation: without it the same state comes back.
    await unlink(join(dataDir, "checkpoint.json"))
    const third = await spawnBroker(["--data-dir", dataDir])
    const replayed = await get(`${third.url}/status`)
    expect(replayed.log.head).toBe(head)
    expect(replayed.peers).toEqual(after.peers)
    expect(replayed.commands).toEqual(after.commands)
    expect(replayed.signals).toEqual(after.signals)
    expect(replayed.channels.find((c: any) => c.name === "results").count).toBe(2)
    expect(await third.stop()).toBe(0)
  })

  it("refuses to start a second broker on a data dir in use, in one line naming the first one's pid", async () => {
    const first = await spawnBroker(["--data-dir", dataDir])
    try {
      const second = await runBin(["--port", "0", "--data-dir", dataDir])
      expect(second.code).toBe(1)
      expect(second.stderr).toContain(`is in use by another broker (pid ${first.child.pid})`)
      expect(second.stderr.trim().split("\n").filter((line) => line.startsWith("claude-ipc-broker:"))).toHaveLength(1)
      // The first one goes on serving and appending.
      expect((await post(`${first.url}/channels/lock/send`, { still: "here" })).id).toBe(1)
    } finally {
      expect(await first.stop()).toBe(0)
    }
  })

  it("shuts down promptly on SIGTERM and SIGINT with long-polls and SSE streams open", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const broker = await spawnBroker(["--data-dir", dataDir])
      const peer = await post(`${broker.url}/peers/connect`, { role: "idle" })
      const poll = fetch(`${broker.url}/commands/${peer.id}/wait?timeout=120000`).catch((error) => error)
      const sse = await fetch(`${broker.url}/events?from=1`)
      expect(sse.headers.get("content-type")).toContain("text/event-stream")
      const reading = sse.body!.getReader().read()
      await reading
      const code = await broker.stop(signal)
      expect(code).toBe(0)
      await poll
    }
  })
})
