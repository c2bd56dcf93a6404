import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { createServer, type AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker, type TestBroker } from "../support/broker.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { within } from "../http/client.js"
import { startTool, tool } from "./tool.js"

/** Every subcommand that talks to a broker, in-process, against a live broker started here. */

const broker = useBroker()
let url: Array<string>

const post = async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${broker.url}${path}`, {
    method: "POST",
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return (await response.json()) as Record<string, any>
}
const get = async (path: string) => (await (await fetch(`${broker.url}${path}`)).json()) as Record<string, any>

beforeAll(async () => {
  url = ["--url", broker.url]
  await post("/peers/connect", { id: "worker-1", role: "worker", name: "terminal 1", capabilities: ["build"] })
})

describe("status and peers", () => {
  it("summarise the broker in readable lines, or print its JSON", async () => {
    const { code, stdout } = await tool(["status", ...url])
    expect(code).toBe(0)
    expect(stdout).toContain(`at ${broker.url}`)
    // Counted in the singular when there is one event (worker-1 connected): "1 event", not "1 events".
    expect(stdout).toMatch(/^log\s+memory, (1 event|([02-9]|\d\d+) events)$/m)
    expect(stdout).toMatch(/peers\s+1: 1 online, 0 stale, 0 offline \(worker "terminal 1" \(worker-1\) online\)/)
    const json = await tool(["status", "--json", ...url])
    expect(JSON.parse(json.stdout).peers[0].id).toBe("worker-1")
  })

  it("show the past with --at, and refuse a seq beyond the head with the broker's message", async () => {
    const past = await tool(["status", "--at", "0", ...url])
    expect(past.stdout).toContain("showing the state at seq 0")
    expect(past.stdout).toMatch(/peers\s+0:/)
    const beyond = await tool(["status", "--at", "999999", ...url])
    expect(beyond.code).toBe(1)
    expect(beyond.stderr).toMatch(/^claude-ipc-broker: the broker refused: bad_request: the log ends at seq \d+/)
  })

  it("list peers as a table", async () => {
    const { code, stdout } = await tool(["peers", ...url])
    expect(code).toBe(0)
    const [header, row] = stdout.trim().split("\n")
    expect(header).toMatch(/^ID\s+ROLE\s+STATUS\s+LAST SEEN\s+NAME\s+CAPABILITIES$/)
    expect(row).toMatch(/^worker-1\s+worker\s+online\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+terminal 1\s+build$/)
    expect(JSON.parse((await tool(["peers", "--json", ...url])).stdout)).toHaveLength(1)
  })
})

describe("send", () => {
  it("prints the new command's id, recording --from as the sender", async () => {
    const { code, stdout } = await tool(["send", "nobody", "build", "--params", '{"n":1}', "--from", "lead", ...url])
    expect(code).toBe(0)
    const id = stdout.trim()
    expect(id).toMatch(/^cmd-[0-9a-z]{12}$/)
    const { command } = await get(`/commands/${id}/result?timeout=0`)
    expect(command).toMatchObject({ from: "lead", target: "nobody", action: "build", params: { n: 1 }, status: "pending" })
  })

  it("--wait prints the result once a peer acks, and exits 1 when the peer reports failure", async () => {
    const work = async (ok: boolean) => {
      const { command } = await get("/commands/worker-1/wait?timeout=10000")
      await post(`/commands/${command.id}/ack`, { ok, result: { passed: ok ? 42 : 0 } }, { "x-peer-id": "worker-1" })
    }
    const [acked] = await Promise.all([tool(["send", "worker", "test", "--wait", ...url]), work(true)])
    expect(acked).toMatchObject({ code: 0, stdout: '{"passed":42}\n' })
    const [failed] = await Promise.all([tool(["send", "worker", "test", "--wait", ...url]), work(false)])
    expect(failed.code).toBe(1)
    expect(failed.stdout).toBe('{"passed":0}\n')
    expect(failed.stderr).toMatch(/^claude-ipc-broker: command cmd-\w+ failed\n$/)
  })

  it("--wait --timeout gives up with exit code 3", async () => {
    const { code, stderr } = await tool(["send", "nobody", "slow", "--wait", "--timeout", "200", ...url])
    expect(code).toBe(3)
    expect(stderr).toMatch(/command cmd-\w+ is not settled after 200 ms/)
  })

  it("refuses bad arguments with one line and exit code 2, before contacting the broker", async () => {
    for (const argv of [
      ["send", "worker"],
      ["send", "worker", "x", "--params", "{not json"],
      ["send", "bad target!", "x"],
      ["send", "worker", "x", "--from", "a b"]
    ]) {
      const { code, stderr } = await tool([...argv, ...url])
      expect(code, argv.join(" ")).toBe(2)
      expect(stderr.trim().split("\n"), argv.join(" ")).toHaveLength(1)
      expect(stderr).toContain("(see claude-ipc-broker send --help)")
    }
  })
})

describe("command", () => {
  it("shows one command's status, attempts and history; --at shows it in the past; a peer id is refused", async () => {
    const sent = await post("/commands/send", { target: "worker", action: "lint", from: "lead" })
    const { command: held } = await get("/commands/worker-1/wait?timeout=10000")
    expect(held.id).toBe(sent.id)
    await post(`/commands/${sent.id}/ack`, { result: "clean" }, { "x-peer-id": "worker-1" })

    const { code, stdout } = await tool(["command", sent.id, ...url])
    expect(code).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines[0]).toBe(`${sent.id} lint → worker: acked, delivered 1 time`)
    expect(lines[1]).toMatch(/^from lead, sent \d{4}-\d\d-\d\d \d\d:\d\d:\d\d; held by worker-1; result "clean"$/)
    expect(lines[2]).toMatch(/^SEQ\s+AT\s+EVENT\s+BY$/)
    expect(lines.slice(3).map((line) => line.split(/\s+/).slice(3).join(" "))).toEqual([
      "command.sent lead",
      "command.delivered worker-1",
      "command.acked worker-1"
    ])

    const detail = JSON.parse((await tool(["command", sent.id, "--json", ...url])).stdout)
    const past = JSON.parse((await tool(["command", sent.id, "--json", "--at", String(detail.history[0].seq), ...url])).stdout)
    expect(past).toMatchObject({ status: "pending", attempts: 0 })

    const peer = await tool(["command", "worker-1", ...url])
    expect(peer.code).toBe(2)
    expect(peer.stderr).toMatch(/'worker-1' is not a command id: command ids start with 'cmd-'/)
  })
})

describe("signals", () => {
  it("wait-signal prints the data it was fired with", async () => {
    const waiting = tool(["wait-signal", "deploy-done", ...url])
    await new Promise((resolve) => setTimeout(resolve, 200))
    const fired = await tool(["signal", "deploy-done", "--data", '{"env":"staging"}', "--from", "ci", ...url])
    expect(fired.code).toBe(0)
    expect(fired.stdout).toMatch(/^signal deploy-done fired ×1 at .+ by ci, data \{"env":"staging"\}\n$/)
    expect(await waiting).toMatchObject({ code: 0, stdout: '{"env":"staging"}\n' })
    // Level, not edge: a signal that is fired answers at once.
    const again = await tool(["wait-signal", "deploy-done", "--json", ...url])
    expect(JSON.parse(again.stdout)).toMatchObject({ name: "deploy-done", fired: true, firedBy: "ci", count: 1 })
  })

  it("wait-signal --timeout exits 3 with a line saying so", async () => {
    const { code, stdout, stderr } = await tool(["wait-signal", "never", "--timeout", "150", ...url])
    expect(code).toBe(3)
    expect(stdout).toBe("")
    expect(stderr).toBe("claude-ipc-broker: signal never was not fired within 150 ms\n")
  })
})

describe("channels", () => {
  it("publish posts JSON as the sender; read prints one line per message", async () => {
    expect(await tool(["publish", "builds", '{"text":"green"}', "--from", "ci", ...url])).toMatchObject({
      code: 0,
      stdout: "message 1 on builds\n"
    })
    await tool(["publish", "builds", '"ship it"', ...url])
    const { stdout } = await tool(["read", "builds", ...url])
    const lines = stdout.trim().split("\n")
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^#1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ci \{"text":"green"\}$/)
    expect(lines[1]).toMatch(/^#2 .* - "ship it"$/)
    const json = await tool(["read", "builds", "--since", "1", "--json", ...url])
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 2, data: "ship it", from: null })
  })

  it("publish refuses a message that is not JSON", async () => {
    const { code, stderr } = await tool(["publish", "builds", "not json", ...url])
    expect(code).toBe(2)
    expect(stderr).toContain("the message must be JSON, not 'not json'")
  })

  it("read --follow prints new messages as they come, until stopped", async () => {
    const reader = startTool(["read", "follows", "--follow", ...url])
    await new Promise((resolve) => setTimeout(resolve, 200))
    await post("/channels/follows/send", { n: 1 })
    await reader.waitFor('{"n":1}')
    await post("/channels/follows/send", { n: 2 })
    await reader.waitFor('{"n":2}')
    const { code, stdout } = await reader.stop()
    expect(code).toBe(0)
    expect(stdout.trim().split("\n")).toHaveLength(2)
  })
})

describe("tail", () => {
  it("prints one readable line per event, filtered by type, plain when not a terminal", async () => {
    const tail = startTool(["tail", "--from", "1", "--type", "command.*", ...url])
    await tail.waitFor("command.sent")
    const sent = await tool(["send", "nobody", "tail_me", ...url])
    await tail.waitFor(sent.stdout.trim())
    const { code, stdout } = await tail.stop()
    expect(code).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines.every((line) => /^\s*\d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d command\.\w+/.test(line))).toBe(true)
    expect(lines.at(-1)).toMatch(new RegExp(`command\\.sent\\s+${sent.stdout.trim()} human → nobody: tail_me$`))
    expect(stdout).not.toContain("\x1b[")
  })

  it("colours the lines on a terminal, and prints the stored events as NDJSON with --json", async () => {
    const coloured = startTool(["tail", "--from", "1", ...url], { color: true })
    await coloured.waitFor("peer.connected")
    expect((await coloured.stop()).stdout).toContain("\x1b[")

    const json = startTool(["tail", "--from", "1", "--json", ...url])
    await json.waitFor('"seq":2')
    const { stdout } = await json.stop()
    const events = stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(events.slice(0, 2).map((event) => event.seq)).toEqual([1, 2])
    expect(events[0]).toMatchObject({ type: "peer.connected", data: { peerId: "worker-1" } })
  })
})

describe("tail across a broker restart", () => {
  const brokers = useBrokers()

  it("says it lost the broker, waits for it, and resumes after the last event it showed", async () => {
    const dataDir = await brokers.dataDir("tail-restart-")
    const first = await brokers.start({ dataDir })
    const port = Number(new URL(first.url).port)
    const tail = startTool(["tail", "--from", "1", "--url", first.url])
    try {
      await fetch(`${first.url}/signals/before`, { method: "POST" })
      await tail.waitFor("signal.fired          before")
      await first.close()
      const second = await brokers.start({ dataDir, port })
      await fetch(`${second.url}/signals/after`, { method: "POST" })
      await tail.waitFor("signal.fired          after")
      const { code, stdout, stderr } = await tail.stop()
      expect(code).toBe(0)
      expect(stdout.match(/signal\.fired/g)).toHaveLength(2)
      expect(stderr).toContain(`lost the broker at ${first.url}; reconnecting…`)
      expect(stderr).toContain("following again from seq 2")
    } finally {
      await tail.stop()
    }
  })
})

describe("a --memory broker restarted", () => {
  const brokers = useBrokers()

  it("tail follows the new log from its first event, not from where the old one stopped", async () => {
    const fire = (url: string, name: string) => fetch(`${url}/signals/${name}`, { method: "POST" })
    const first = await brokers.start()
    const port = Number(new URL(first.url).port)
    const tail = startTool(["tail", "--from", "1", "--url", first.url])
    try {
      for (const name of ["old-1", "old-2", "old-3"]) await fire(first.url, name)
      await tail.waitFor("old-3")
      await first.close()
      // The new log's events 1 and 2 are there before tail is back, or come just after: either way they are new.
      const second = await brokers.start({ port })
      await fire(second.url, "new-1")
      await fire(second.url, "new-2")
      await tail.waitFor("new-2")
      await fire(second.url, "new-3")
      await tail.waitFor("new-3")
      const { code, stdout, stderr } = await tail.stop()
      expect(code).toBe(0)
      const fired = stdout.trim().split("\n").map((line) => /^\s*(\d+) .* signal\.fired\s+(\S+)/.exec(line)?.slice(1))
      expect(fired).toEqual([["1", "old-1"], ["2", "old-2"], ["3", "old-3"], ["1", "new-1"], ["2", "new-2"], ["3", "new-3"]])
      expect(stderr).toContain(`the broker at ${first.url} has a new log (it restarted without the old one's events)`)
      expect(stderr).toContain("following again from seq 1")
    } finally {
      await tail.stop()
    }
  })
})

describe("waits across a broker restart", () => {
  let dataDir: string
  let current: TestBroker | undefined
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wait-restart-"))
  })
  afterAll(async () => {
    await current?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  /** Stops the broker while the tool's wait is parked in it, and starts it again on the same port and data dir. */
  const restart = async (broker: TestBroker, parkedWaits: number) => {
    const deadline = Date.now() + 10_000
    while ((await Effect.runPromise(broker.broker.stats)).waits < parkedWaits) {
      if (Date.now() > deadline) throw new Error("the wait never parked in the broker")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await broker.close()
    current = undefined
    await new Promise((resolve) => setTimeout(resolve, 300)) // away for a moment, as a supervisor's restart is
    current = await startBroker({ dataDir, port: Number(new URL(broker.url).port) })
    return current
  }

  it("wait-signal waits for the broker to come back and exits 0 once the signal is fired", async () => {
    const first = (current = await startBroker({ dataDir }))
    const waiting = startTool(["wait-signal", "deployable", "--url", first.url])
    const second = await restart(first, 1)
    await fetch(`${second.url}/signals/deployable`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: { build: 17 } })
    })
    const { code, stdout, stderr } = await waiting.done
    expect(code).toBe(0)
    expect(stdout).toBe('{"build":17}\n')
    expect(stderr).toMatch(new RegExp(`^claude-ipc-broker wait-signal: lost the broker at ${first.url} \\(.+\\); waiting for it to come back…\n`))
    expect(stderr).toContain("claude-ipc-broker wait-signal: the broker is back; still waiting\n")
  })

  it("send --wait and read --follow go on after the restart", async () => {
    const first = (current ??= await startBroker({ dataDir }))
    const sending = startTool(["send", "builder", "build", "--wait", "--url", first.url])
    const reading = startTool(["read", "news", "--follow", "--url", first.url])
    const second = await restart(first, 2)
    const peer = await (
      await fetch(`${second.url}/peers/connect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "builder-1", role: "builder" })
      })
    ).json()
    const { command } = await (await fetch(`${second.url}/commands/${peer.id}/wait?timeout=5000`)).json()
    await fetch(`${second.url}/commands/${command.id}/ack`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-peer-id": peer.id },
      body: JSON.stringify({ ok: true, result: { built: true } })
    })
    expect(await sending.done).toMatchObject({ code: 0, stdout: '{"built":true}\n' })
    await fetch(`${second.url}/channels/news/send`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ after: "restart" })
    })
    await reading.waitFor('{"after":"restart"}')
    const read = await reading.stop()
    expect(read.code).toBe(0)
    expect(read.stderr).toContain("claude-ipc-broker read: lost the broker at")
  })

  it("gives up as unreachable (exit 1) when the broker is still away as --timeout passes", async () => {
    const first = (current ??= await startBroker({ dataDir }))
    const deadline = Date.now() + 10_000
    // The previous test's `read --follow` may still be parked here: its process has exited, but the
    // broker ends its wait only once it sees the connection close. Count only this test's wait.
    while ((await Effect.runPromise(first.broker.stats)).waits > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // Long enough that the broker is surely gone before it passes, on a loaded machine too.
    const waiting = startTool(["wait-signal", "never", "--timeout", "5000", "--url", first.url])
    while ((await Effect.runPromise(first.broker.stats)).waits < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await first.close()
    current = undefined
    // It gives up (rather than retrying for ever) once --timeout has passed.
    const { code, stderr } = await within(waiting.done, 30_000, "the CLI giving up")
    expect(code).toBe(1)
    expect(stderr).toContain("lost the broker at")
    expect(stderr).toMatch(/claude-ipc-broker: cannot reach the broker at .+; is it running\?/)
  })

  it("still fails at once when the broker cannot be reached at the start", async () => {
    // A port nothing listens on (port 1 would be refused by fetch itself, as a "bad port").
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const started = Date.now()
    const { code, stderr } = await tool(["wait-signal", "x", "--url", `http://127.0.0.1:${port}`])
    expect(code).toBe(1)
    // At once: not the retrying a lost broker gets (a bound for a loaded machine, not a measurement).
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(stderr).toBe(
      `claude-ipc-broker: cannot reach the broker at http://127.0.0.1:${port} (ECONNREFUSED); is it running? (--url or BROKER_URL)\n`
    )
  })
})

describe("export", () => {
  it("prints the log as the broker exports it, or a range of it", async () => {
    const whole = await tool(["export", ...url])
    expect(whole.code).toBe(0)
    expect(whole.stdout).toBe(await (await fetch(`${broker.url}/log`)).text())
    const range = await tool(["export", "--from", "2", "--to", "3", ...url])
    expect(range.stdout.trim().split("\n").map((line) => JSON.parse(line).seq)).toEqual([2, 3])
  })
})

describe("mcp-config", () => {
  let cwd: string
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "mcp-config-"))
  })
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true })
  })

  it("prints the .mcp.json entry and the claude mcp add command, with the token", async () => {
    const { code, stdout } = await tool(["mcp-config", "--url", "http://broker.lan:9100/", "--token", "s3cret"])
    expect(code).toBe(0)
    const json = JSON.parse(stdout.slice(stdout.indexOf("{"), stdout.lastIndexOf("}") + 1))
    expect(json).toEqual({
      mcpServers: {
        broker: {
          type: "http",
          url: "http://broker.lan:9100/mcp",
          headers: { Authorization: "Bearer s3cret" }
        }
      }
    })
    expect(stdout).toContain(
      "claude mcp add --transport http broker http://broker.lan:9100/mcp --header 'Authorization: Bearer s3cret'"
    )
  })

  it("--global --transport sse prints the user-scope command, BROKER_URL and no token by default", async () => {
    const { stdout } = await tool(["mcp-config", "--global", "--transport", "sse"], { env: { BROKER_URL: "http://h:9" } })
    expect(stdout).toContain("claude mcp add --transport sse --scope user broker http://h:9/mcp/sse\n")
    expect(stdout).not.toContain("Authorization")
  })

  it("--write merges into ./.mcp.json, keeping the other servers", async () => {
    const path = join(cwd, ".mcp.json")
    await writeFile(path, JSON.stringify({ mcpServers: { other: { type: "stdio", command: "x" } } }))
    const { code, stdout } = await tool(["mcp-config", "--write", ...url], { cwd })
    expect(code).toBe(0)
    expect(stdout).toContain(`to ${path}`)
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({
      mcpServers: { other: { type: "stdio", command: "x" }, broker: { type: "http", url: `${broker.url}/mcp` } }
    })
  })

  it("--write leaves a file it cannot read as JSON alone, and refuses --global", async () => {
    const path = join(cwd, ".mcp.json")
    await writeFile(path, "{ broken")
    const broken = await tool(["mcp-config", "--write", ...url], { cwd })
    expect(broken.code).toBe(1)
    expect(broken.stderr).toContain(`left ${path} as it was`)
    expect(await readFile(path, "utf8")).toBe("{ broken")
    const transport = await tool(["mcp-config", "--transport", "ws"], { cwd })
    expect(transport.code).toBe(2)
    expect(transport.stderr).toContain("--transport takes http or sse, not 'ws'")
    const global = await tool(["mcp-config", "--write", "--global"], { cwd })
    expect(global.code).toBe(2)
    expect(global.stderr).toContain("claude mcp add --transport http --scope user")
  })
})

describe("reaching the broker", () => {
  const brokers = useBrokers()

  it("says so in one line and exits 1 when nothing listens", async () => {
    const { code, stderr } = await tool(["status", "--url", "http://127.0.0.1:1"])
    expect(code).toBe(1)
    expect(stderr).toMatch(/^claude-ipc-broker: cannot reach the broker at http:\/\/127\.0\.0\.1:1 \(.+\); is it running\?/)
    expect(stderr.trim().split("\n")).toHaveLength(1)
  })

  it("sends the token from --token or BROKER_TOKEN, and hints at it when refused", async () => {
    const locked = await brokers.start({ token: "t0ken" })
    const refused = await tool(["peers", "--url", locked.url])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("unauthorized")
    expect(refused.stderr).toContain("pass --token or set BROKER_TOKEN")
    expect((await tool(["peers", "--url", locked.url, "--token", "t0ken"])).code).toBe(0)
    expect((await tool(["peers"], { env: { BROKER_URL: locked.url, BROKER_TOKEN: "t0ken" } })).stdout).toBe("no peers\n")
  })

  it("refuses a --url that is not http", async () => {
    const { code, stderr } = await tool(["status", "--url", "ftp://x"])
    expect(code).toBe(2)
    expect(stderr).toContain("--url takes http://host:port, not 'ftp://x'")
  })
})
