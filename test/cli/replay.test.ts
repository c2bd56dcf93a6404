import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callRaw, openSession, textOf } from "../mcp/support.js"
import { startBroker } from "../support/broker.js"
import { startTool, tool, type RunningTool } from "./tool.js"

/** `export` a live broker's log, then `replay` it: the same state, read-only. */

let dir: string
let exported: string
let live: Record<string, any>

const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, any> })

/** Start `replay` in-process and wait until it says where it listens. */
const startReplay = async (file: string): Promise<{ replay: RunningTool; url: string }> => {
  const replay = startTool(["replay", file, "--port", "0"])
  await replay.waitFor(/\n {2}log:.*\n/)
  return { replay, url: /listening on (http:\/\/\S+)/.exec(replay.stdout())![1]! }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "replay-"))
  const broker = await startBroker()
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${broker.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    await post("/peers/connect", { id: "w1", role: "worker" })
    await post("/commands/send", { target: "worker", action: "build", params: { n: 1 } })
    await post("/channels/builds/send", { text: "green" })
    await post("/signals/ready", { data: 7 })
    live = (await json(await fetch(`${broker.url}/status`))).body
    const { code, stdout } = await tool(["export", "--url", broker.url])
    expect(code).toBe(0)
    exported = join(dir, "incident.ndjson")
    await writeFile(exported, stdout)
  } finally {
    await broker.close()
  }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe("replay", () => {
  it("serves the exported state with the same announcement, and reads work", async () => {
    const { replay, url } = await startReplay(exported)
    try {
      expect(replay.stdout()).toContain(`  dashboard: ${url}/dashboard`)
      expect(replay.stdout()).toContain(`  log:       replay of ${exported} (read-only: every write is refused), 4 events`)
      const { body: status } = await json(await fetch(`${url}/status`))
      expect(status.log).toEqual({ head: live.log.head, backend: "replay" })
      for (const key of ["peers", "commands", "channels", "signals", "commandCounts"]) expect(status[key]).toEqual(live[key])
      expect((await json(await fetch(`${url}/status?at=1`))).body.commands).toEqual([])
      expect((await fetch(`${url}/dashboard/`)).status).toBe(200)
      const summary = await tool(["status", "--url", url])
      expect(summary.stdout).toContain("log       replay, 4 events")
      const tail = startTool(["tail", "--from", "1", "--json", "--url", url])
      await tail.waitFor('"seq":4')
      expect((await tail.stop()).stdout).toBe(await readFile(exported, "utf8"))
      expect(await (await fetch(`${url}/log`)).text()).toBe(await readFile(exported, "utf8"))
    } finally {
      expect((await replay.stop()).code).toBe(0)
    }
  })

  it("refuses every write with 405 read_only, a command wait included", async () => {
    const { replay, url } = await startReplay(exported)
    try {
      const refusals = [
        await fetch(`${url}/peers/connect`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"role":"x"}' }),
        await fetch(`${url}/signals/ready`, { method: "DELETE" }),
        await fetch(`${url}/reset`, { method: "POST" }),
        await fetch(`${url}/commands/w1/wait?timeout=0`)
      ]
      for (const response of refusals) {
        const { status, body } = await json(response)
        expect(status).toBe(405)
        expect(body.error.code).toBe("read_only")
      }
      const cli = await tool(["signal", "ready", "--url", url])
      expect(cli.code).toBe(1)
      expect(cli.stderr).toContain("the broker refused: read_only: this broker replays an exported log read-only")
      expect((await json(await fetch(`${url}/status`))).body.log.head).toBe(4)
      // …and says so to the dashboard, which then shows no command center.
      expect((await json(await fetch(`${url}/whoami`))).body.may).toEqual({ read: true, write: false, admin: false, tokens: false })
    } finally {
      await replay.stop()
    }
  })

  it("serves MCP: reading tools answer, writing tools fail with a tool error", async () => {
    const { replay, url } = await startReplay(exported)
    const session = await openSession(url, "http")
    try {
      const status = await callRaw(session, "broker_status")
      expect(status.isError).toBeFalsy()
      expect(textOf(status)).toContain("log replay at seq 4")
      const connect = await callRaw(session, "connect", { role: "inspector" })
      expect(connect.isError).toBe(true)
      expect(textOf(connect)).toContain("read-only; nothing can be recorded")
    } finally {
      await session.close()
      await replay.stop()
    }
  })

  it("takes no sweeper decisions on a log whose peers went silent long ago", async () => {
    const old = join(dir, "old.ndjson")
    await writeFile(
      old,
      `${JSON.stringify({ seq: 1, at: "2020-01-01T00:00:00.000Z", type: "peer.connected", data: { peerId: "p", role: "r", capabilities: [], name: null } })}\n`
    )
    const { replay, url } = await startReplay(old)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      const { body } = await json(await fetch(`${url}/peers/p`))
      expect(body.status).toBe("online")
      expect(replay.stderr()).not.toContain("sweep")
    } finally {
      await replay.stop()
    }
  })

  it("refuses a file that is not a log from seq 1, naming the line", async () => {
    const cases: Array<[string, string]> = [
      [`${JSON.stringify({ seq: 1, at: "x", type: "t", data: {} })}\nnot json\n`, "line 2: not JSON"],
      [`{"seq":1,"at":"x","type":"t"}\n`, 'line 1: not a stored event ({"seq","at","type","data"})'],
      [`${JSON.stringify({ seq: 5, at: "x", type: "t", data: {} })}\n`, "line 1: the log starts at seq 5; a replay needs it from seq 1 (export without --from)"],
      [
        `${JSON.stringify({ seq: 1, at: "x", type: "t", data: {} })}\n\n${JSON.stringify({ seq: 3, at: "x", type: "t", data: {} })}\n` +
          `${JSON.stringify({ seq: 2, at: "x", type: "t", data: {} })}\n`,
        "line 4: seq 2 after seq 3: the seqs of a log only increase"
      ],
      // Only one project's export may start late (its first event is where it is in the shared log); two projects' may not.
      [
        `\n${JSON.stringify({ seq: 5, at: "x", type: "t", data: {}, project: "a" })}\n${JSON.stringify({ seq: 7, at: "x", type: "t", data: {}, project: "b" })}\n`,
        "line 2: the log starts at seq 5; a replay needs it from seq 1 (export without --from)"
      ]
    ]
    for (const [content, problem] of cases) {
      const file = join(dir, "bad.ndjson")
      await writeFile(file, content)
      const { code, stderr } = await tool(["replay", file, "--port", "0"])
      expect(code, problem).toBe(1)
      expect(stderr).toBe(`claude-ipc-broker: ${file}: ${problem}\n`)
    }
    const missing = await tool(["replay", join(dir, "nope.ndjson")])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("nope.ndjson")
  })
})

describe("replay of a project's export", () => {
  /** What a status shows of a project, without what differs between a live broker and its replay. */
  const held = (status: Record<string, any>) => ({
    peers: status.peers,
    commands: status.commands,
    commandCounts: status.commandCounts,
    channels: status.channels,
    signals: status.signals
  })
  let webFile: string
  let defaultFile: string
  let liveWeb: Record<string, any>
  let liveWebEarlier: Record<string, any>
  let liveDefault: Record<string, any>
  let earlierSeq: number
  let webSeqs: Array<number>

  beforeAll(async () => {
    const broker = await startBroker()
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${broker.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      // Three projects' events interleaved in the one log: neither web's nor default's start at seq 1, nor follow one another.
      await post("/p/api/signals/go", { data: 1 })
      await post("/channels/root/send", { in: "default" })
      await post("/p/web/peers/connect", { id: "w1", role: "worker" })
      await post("/p/web/commands/send", { target: "worker", action: "build", params: { n: 1 } })
      await post("/peers/connect", { id: "d1", role: "worker" })
      earlierSeq = (await json(await fetch(`${broker.url}/p/web/status`))).body.seq
      liveWebEarlier = (await json(await fetch(`${broker.url}/p/web/status`))).body
      await post("/p/web/channels/builds/send", { text: "green" })
      await post("/p/api/channels/builds/send", { text: "api" })
      await post("/p/web/signals/ready", { data: 7 })
      liveWeb = (await json(await fetch(`${broker.url}/p/web/status`))).body
      liveDefault = (await json(await fetch(`${broker.url}/status`))).body
      const web = await tool(["export", "--project", "web", "--url", broker.url])
      const root = await tool(["export", "--url", broker.url])
      expect([web.code, root.code]).toEqual([0, 0])
      webFile = join(dir, "web.ndjson")
      defaultFile = join(dir, "default.ndjson")
      await writeFile(webFile, web.stdout)
      await writeFile(defaultFile, root.stdout)
      webSeqs = web.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { seq: number }).seq)
    } finally {
      await broker.close()
    }
  })

  it("serves the project under /p/<project> with its state, its seqs and its log; default is empty", async () => {
    expect(webSeqs).toEqual([3, 4, 6, 8])
    const { replay, url } = await startReplay(webFile)
    try {
      expect(replay.stdout()).toContain(
        `  log:       replay of ${webFile} (read-only: every write is refused), 4 events, of project web at /p/web/, ` +
          "seq 3–8 (the log's other events are not in the file)\n"
      )
      const { body: status } = await json(await fetch(`${url}/p/web/status`))
      expect(held(status)).toEqual(held(liveWeb))
      expect(status.log).toEqual({ head: 8, backend: "replay" })
      // Seqs are the original log's: the past is asked for by the seq the live broker had.
      expect(held((await json(await fetch(`${url}/p/web/status?at=${earlierSeq}`))).body)).toEqual(held(liveWebEarlier))
      expect(await (await fetch(`${url}/p/web/log`)).text()).toBe(await readFile(webFile, "utf8"))
      // The unprefixed routes are project default's, which the file holds nothing of; nor does anything stand in for the rest.
      const root = (await json(await fetch(`${url}/status`))).body
      expect([root.peers, root.commands, root.channels, root.signals]).toEqual([[], [], [], []])
      expect(await (await fetch(`${url}/log`)).text()).toBe("")
      expect((await json(await fetch(`${url}/projects`))).body.projects.map((p: { name: string }) => p.name)).toEqual(["default", "web"])
      expect((await fetch(`${url}/p/web/dashboard/`)).status).toBe(200)
      const summary = await tool(["status", "--project", "web", "--url", url])
      expect(summary.stdout).toContain(`at ${url}, project web,`)
      expect(summary.stdout).toMatch(/^channels\s+builds \(1\)$/m)
      const tail = startTool(["tail", "--from", "1", "--json", "--project", "web", "--url", url])
      await tail.waitFor('"seq":8')
      expect((await tail.stop()).stdout).toBe(await readFile(webFile, "utf8"))
    } finally {
      expect((await replay.stop()).code).toBe(0)
    }
  })

  it("replays default's export of a broker with projects, though it starts late and has gaps", async () => {
    const { replay, url } = await startReplay(defaultFile)
    try {
      expect(replay.stdout()).toContain("2 events, seq 2–5 (the log's other events are not in the file)\n")
      expect(held((await json(await fetch(`${url}/status`))).body)).toEqual(held(liveDefault))
      expect((await json(await fetch(`${url}/p/web/status`))).body.peers).toEqual([])
    } finally {
      await replay.stop()
    }
  })
})
